package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Matrix answers travel between every source and destination. It is decomposed
// into cells cached one by one; only the missing cells are asked upstream, as the
// one sub-matrix of the sources × destinations that have a miss.
func (s *Service) Matrix(ctx context.Context, req domain.MatrixRequest) (domain.MatrixResult, error) {
	cells, err := s.matrix(ctx, capMatrix, req)
	if err != nil {
		return domain.MatrixResult{}, err
	}
	return domain.MatrixResult{Cells: cells}, nil
}

// ETA is a one-row matrix: travel from origin to each destination, in order.
func (s *Service) ETA(ctx context.Context, origin domain.LatLng, destinations []domain.LatLng, p domain.Profile) ([]domain.MatrixCell, error) {
	cells, err := s.matrix(ctx, capETA, domain.MatrixRequest{Sources: []domain.LatLng{origin}, Destinations: destinations, Profile: p})
	if err != nil {
		return nil, err
	}
	return cells[0], nil
}

// subMatrix is the part of a matrix that missed the cache.
type subMatrix struct {
	req              domain.MatrixRequest
	srcKeys, dstKeys []string
}

// matrixAnswer is what one matrix flight hands to every waiting caller: the cells
// of its sub-matrix by cell key (read-only, shared).
type matrixAnswer struct {
	cells   map[string]domain.MatrixCell
	outcome string
}

func (s *Service) matrix(ctx context.Context, capability string, req domain.MatrixRequest) ([][]domain.MatrixCell, error) {
	req, err := normaliseMatrix(req)
	if err != nil {
		s.m.requests.WithLabelValues(capability, outcomeInvalid).Inc()
		return nil, err
	}
	srcKeys, dstKeys := pointKeys(req.Sources), pointKeys(req.Destinations)
	grid := make([][]string, len(srcKeys))
	unique := make([]string, 0, len(srcKeys)*len(dstKeys))
	seen := make(map[string]bool, len(srcKeys)*len(dstKeys))
	for i, sk := range srcKeys {
		grid[i] = make([]string, len(dstKeys))
		for j, dk := range dstKeys {
			k := cellKey(req.Profile, sk, dk)
			grid[i][j] = k
			if !seen[k] {
				seen[k] = true
				unique = append(unique, k)
			}
		}
	}

	found := s.cachedCells(ctx, unique, capability)
	outcome := outcomeHit
	var flown map[string]domain.MatrixCell
	if missing := len(unique) - len(found); missing > 0 {
		s.m.cacheMisses.WithLabelValues(capability).Add(float64(missing))
		sub := missingSubMatrix(req, srcKeys, dstKeys, grid, found)
		ans, err := coalesce(ctx, &s.matrixFlights, sub.flightKey(), func(ctx context.Context) matrixAnswer {
			return s.matrixFlight(ctx, sub)
		})
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				s.m.requests.WithLabelValues(capability, outcomeCanceled).Inc()
				return nil, err
			}
			// The caller's deadline is nearer than the providers' answer: estimate now.
			s.m.fallbacks.WithLabelValues(capMatrix, "estimate").Inc()
			ans = matrixAnswer{cells: s.estimateCells(sub), outcome: outcomeEstimate}
		}
		flown, outcome = ans.cells, ans.outcome
	}
	s.m.requests.WithLabelValues(capability, outcome).Inc()

	out := make([][]domain.MatrixCell, len(grid))
	for i, row := range grid {
		out[i] = make([]domain.MatrixCell, len(row))
		for j, k := range row {
			c, ok := found[k]
			if !ok {
				c = flown[k]
			}
			out[i][j] = c
		}
	}
	return out, nil
}

func pointKeys(pts []domain.LatLng) []string {
	keys := make([]string, len(pts))
	for i, p := range pts {
		keys[i] = p.Key()
	}
	return keys
}

// missingSubMatrix is the sources that have a missing cell × the destinations that
// have one, each once. It may include a few cached cells (when misses are
// scattered), but it is one upstream call, which is what costs.
func missingSubMatrix(req domain.MatrixRequest, srcKeys, dstKeys []string, grid [][]string, found map[string]domain.MatrixCell) subMatrix {
	needSrc, needDst := map[string]bool{}, map[string]bool{}
	for i, row := range grid {
		for j, k := range row {
			if _, ok := found[k]; !ok {
				needSrc[srcKeys[i]] = true
				needDst[dstKeys[j]] = true
			}
		}
	}
	sub := subMatrix{req: domain.MatrixRequest{Profile: req.Profile}}
	for i, k := range srcKeys {
		if needSrc[k] {
			delete(needSrc, k) // first occurrence only
			sub.req.Sources = append(sub.req.Sources, req.Sources[i])
			sub.srcKeys = append(sub.srcKeys, k)
		}
	}
	for j, k := range dstKeys {
		if needDst[k] {
			delete(needDst, k)
			sub.req.Destinations = append(sub.req.Destinations, req.Destinations[j])
			sub.dstKeys = append(sub.dstKeys, k)
		}
	}
	return sub
}

func (sm subMatrix) flightKey() string {
	return keyVersion + ":matrix:" + string(sm.req.Profile) + ":" + strings.Join(sm.srcKeys, ";") + "|" + strings.Join(sm.dstKeys, ";")
}

func (sm subMatrix) cellKeys() []string {
	keys := make([]string, 0, len(sm.srcKeys)*len(sm.dstKeys))
	for _, sk := range sm.srcKeys {
		for _, dk := range sm.dstKeys {
			keys = append(keys, cellKey(sm.req.Profile, sk, dk))
		}
	}
	return keys
}

// cachedCells looks keys up in one round trip; countHits is the capability label,
// or "" inside a flight, where the caller has already counted its misses.
func (s *Service) cachedCells(ctx context.Context, keys []string, countHits string) map[string]domain.MatrixCell {
	hits := s.cache.GetMany(ctx, keys)
	cells := make(map[string]domain.MatrixCell, len(hits))
	var inMemory, inRedis int
	for k, h := range hits {
		c, err := decodeCell(h.Value)
		if err != nil {
			s.logger.WarnContext(ctx, "maps cache entry unreadable, ignoring it", slog.String("key", k), slog.Any("error", err))
			continue
		}
		cells[k] = c
		if h.Layer == LayerMemory {
			inMemory++
		} else {
			inRedis++
		}
	}
	if countHits != "" {
		// One metric update per layer, not per cell: a matrix has up to 625.
		if inMemory > 0 {
			s.m.cacheHits.WithLabelValues(countHits, string(LayerMemory)).Add(float64(inMemory))
		}
		if inRedis > 0 {
			s.m.cacheHits.WithLabelValues(countHits, string(LayerRedis)).Add(float64(inRedis))
		}
	}
	return cells
}

func (s *Service) matrixFlight(ctx context.Context, sub subMatrix) matrixAnswer {
	keys := sub.cellKeys()
	// A flight that finished just before this one started may have stored the cells.
	if found := s.cachedCells(ctx, keys, ""); len(found) == len(keys) {
		return matrixAnswer{cells: found, outcome: outcomeHit}
	}
	nSrc, nDst := len(sub.srcKeys), len(sub.dstKeys)
	r := walk(ctx, s, capMatrix, s.matrices, func(ctx context.Context, p MatrixProvider) ([][]domain.MatrixCell, error) {
		rows, err := p.Matrix(ctx, sub.req)
		if err == nil && !hasShape(rows, nSrc, nDst) {
			err = &domain.ProviderError{Provider: p.Name(), Kind: domain.KindMalformed, Err: fmt.Errorf("matrix is not %d×%d", nSrc, nDst)}
		}
		return rows, err
	})

	cells := make(map[string]domain.MatrixCell, len(keys))
	var ans matrixAnswer
	var reachTTL, unreachTTL time.Duration
	switch {
	case r.ok:
		for i := range nSrc {
			for j := range nDst {
				c := r.value[i][j]
				c.Source = r.provider.name
				cells[keys[i*nDst+j]] = c
			}
		}
		ans = matrixAnswer{cells: cells, outcome: outcomeUpstream}
		reachTTL = r.provider.policy.storeTTL(s.ttl.Matrix)
		unreachTTL = min(reachTTL, s.ttl.Negative)
	case r.answer != nil:
		// "No route" / "invalid query" about the whole sub-matrix: every cell is unreachable.
		for _, k := range keys {
			cells[k] = domain.MatrixCell{Source: r.provider.name}
		}
		ans = matrixAnswer{cells: cells, outcome: outcomeNoRoute}
		unreachTTL = min(r.provider.policy.storeTTL(s.ttl.Matrix), s.ttl.Negative)
	default:
		s.m.fallbacks.WithLabelValues(capMatrix, "estimate").Inc()
		s.logger.WarnContext(ctx, "no matrix provider answered, estimating", slog.Int("providers", len(s.matrices)))
		ans = matrixAnswer{cells: s.estimateCells(sub), outcome: outcomeEstimate}
		reachTTL = s.ttl.Fallback
		unreachTTL = s.ttl.Fallback
	}
	s.storeCells(ctx, ans.cells, reachTTL, unreachTTL)
	return ans
}

func hasShape(rows [][]domain.MatrixCell, nSrc, nDst int) bool {
	if len(rows) != nSrc {
		return false
	}
	for _, row := range rows {
		if len(row) != nDst {
			return false
		}
	}
	return true
}

func (s *Service) estimateCells(sub subMatrix) map[string]domain.MatrixCell {
	cells := make(map[string]domain.MatrixCell, len(sub.srcKeys)*len(sub.dstKeys))
	for i, src := range sub.req.Sources {
		for j, dst := range sub.req.Destinations {
			cells[cellKey(sub.req.Profile, sub.srcKeys[i], sub.dstKeys[j])] = s.est.Cell(src, dst, sub.req.Profile)
		}
	}
	return cells
}

// storeCells caches reachable and unreachable cells, each group in one round trip.
func (s *Service) storeCells(ctx context.Context, cells map[string]domain.MatrixCell, reachTTL, unreachTTL time.Duration) {
	reach := make(map[string][]byte, len(cells))
	unreach := map[string][]byte{}
	for k, c := range cells {
		ttl, dst := reachTTL, reach
		if !c.Reachable {
			ttl, dst = unreachTTL, unreach
		}
		if ttl <= 0 {
			continue
		}
		dst[k] = encodeCell(c)
	}
	if len(reach) > 0 {
		s.cache.SetMany(ctx, reach, reachTTL)
	}
	if len(unreach) > 0 {
		s.cache.SetMany(ctx, unreach, unreachTTL)
	}
}
