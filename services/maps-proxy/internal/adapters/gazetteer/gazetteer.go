// Package gazetteer is the maps-proxy's local geocoder, used when no provider is
// configured (development, offline) and as the last resort of the geocoding chain.
// It knows a built-in list of Berlin places (stations, squares, landmarks, parks,
// districts) and the platform's parking bays, which it follows on the compacted
// fleet registry topic.
package gazetteer

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Name is the gazetteer's provider name, and the source of its answers.
const Name = domain.SourceGazetteer

// Defaults.
const (
	DefaultReverseRadiusMeters = 500
	DefaultGroupPrefix         = "maps-proxy.gazetteer"
	// reverseLimit bounds a reverse answer: the nearest few are useful, the rest noise.
	reverseLimit = 5
)

//go:embed places.json
var builtinPlaces []byte

// Options configures New. The zero value is a gazetteer of the built-in places only.
type Options struct {
	// Registry makes Run follow the platform's bays; nil means built-in places only.
	Registry *RegistryOptions
	// ReverseRadiusMeters is how far Reverse looks; 0 means DefaultReverseRadiusMeters.
	ReverseRadiusMeters float64
	// Logger nil discards.
	Logger *slog.Logger
}

// RegistryOptions says where the fleet registry is.
type RegistryOptions struct {
	Kafka kafka.Config
	// DLQ takes registry records that cannot be decoded; required.
	DLQ *kafka.Producer
	// GroupPrefix starts the consumer group; a random instance id follows, because
	// every replica must read every bay (a shared group would split the partitions)
	// and must reread them all after a restart (its index lives in memory).
	// "" means DefaultGroupPrefix.
	GroupPrefix string
	// Registerer takes the consumer's metrics; nil means none.
	Registerer prometheus.Registerer
}

// Gazetteer implements app.Geocoder over places held in memory. It is safe for
// concurrent use.
type Gazetteer struct {
	builtin  []*entry // immutable after New
	radius   float64
	logger   *slog.Logger
	registry *RegistryOptions
	group    string
	running  atomic.Bool

	mu    sync.RWMutex
	bays  map[string]*entry // by bay id
	zones map[string]zone   // by zone id, to give bays an address
}

// entry is a place with what matching needs, folded once when it is added.
type entry struct {
	place   domain.Place
	names   map[string]string // display name by language
	zoneID  string            // bays: the zone that gives them an address
	terms   []string          // words of the name, aliases and translated names
	phrases []string          // each of those, words run together ("alexanderplatz")
	context []string          // words of the address
	rank    int               // tie-break by kind: canonical places before bays
}

type zone struct {
	name, city string
}

type builtinPlace struct {
	Name    string            `json:"name"`
	Kind    string            `json:"kind"`
	Lat     float64           `json:"lat"`
	Lon     float64           `json:"lon"`
	Address string            `json:"address"`
	Country string            `json:"country"`
	Aliases []string          `json:"aliases"`
	Names   map[string]string `json:"names"`
}

// New returns a gazetteer of the built-in places; Run adds the bays when
// opts.Registry is set.
func New(opts Options) (*Gazetteer, error) {
	if opts.ReverseRadiusMeters < 0 {
		return nil, errors.New("gazetteer: ReverseRadiusMeters must not be negative")
	}
	if opts.ReverseRadiusMeters == 0 {
		opts.ReverseRadiusMeters = DefaultReverseRadiusMeters
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Gazetteer{
		radius:   opts.ReverseRadiusMeters,
		logger:   opts.Logger,
		registry: opts.Registry,
		bays:     map[string]*entry{},
		zones:    map[string]zone{},
	}
	if r := opts.Registry; r != nil {
		if err := r.Kafka.Validate(); err != nil {
			return nil, fmt.Errorf("gazetteer: registry: %w", err)
		}
		if r.DLQ == nil {
			return nil, errors.New("gazetteer: registry: DLQ producer is required")
		}
		g.group = cmp.Or(r.GroupPrefix, DefaultGroupPrefix) + "." + instanceID()
	}
	var err error
	if g.builtin, err = loadBuiltin(builtinPlaces); err != nil {
		return nil, err
	}
	return g, nil
}

func loadBuiltin(data []byte) ([]*entry, error) {
	var places []builtinPlace
	if err := json.Unmarshal(data, &places); err != nil {
		return nil, fmt.Errorf("gazetteer: built-in places: %w", err)
	}
	out := make([]*entry, 0, len(places))
	for i, p := range places {
		pt := domain.LatLng{Lat: p.Lat, Lon: p.Lon}
		if err := pt.Validate(); err != nil || p.Name == "" || p.Kind == "" || len(p.Country) != 2 {
			return nil, fmt.Errorf("gazetteer: built-in place %d (%q) is incomplete or invalid: %v", i, p.Name, err)
		}
		names := append([]string{p.Name}, p.Aliases...)
		for _, n := range p.Names {
			names = append(names, n)
		}
		e := newEntry(domain.Place{Name: p.Name, Address: p.Address, Point: pt, Country: p.Country, Kind: p.Kind}, names, p.Address)
		e.names = p.Names
		out = append(out, e)
	}
	return out, nil
}

func newEntry(p domain.Place, names []string, address string) *entry {
	e := &entry{place: p, context: fold(address), rank: kindRank(p.Kind)}
	for _, n := range names {
		words := fold(n)
		e.terms = append(e.terms, words...)
		e.phrases = append(e.phrases, strings.Join(words, ""))
	}
	return e
}

// kindRank orders equally good matches: transport hubs and sights are what people
// mean more often than an area, and built-in places are better known than bays.
func kindRank(kind string) int {
	switch kind {
	case "station", "airport":
		return 0
	case "landmark", "square":
		return 1
	case "street", "park":
		return 2
	case "district":
		return 3
	default: // bays
		return 4
	}
}

// Name implements app.Geocoder.
func (g *Gazetteer) Name() string { return Name }

// Geocode finds places whose name, aliases or address contain the query's words,
// compared without case or diacritics, best match first. A country code excludes
// places known to be elsewhere (bays, whose country is unknown, stay). Finding
// nothing is an empty answer, not an error.
func (g *Gazetteer) Geocode(_ context.Context, req domain.GeocodeRequest) ([]domain.Place, error) {
	if err := req.Validate(); err != nil {
		return nil, &domain.ProviderError{Provider: Name, Kind: domain.KindInvalidQuery, Err: err}
	}
	q := newQuery(req.Query)
	if len(q.words) == 0 {
		return []domain.Place{}, nil
	}
	country := strings.ToUpper(req.Country)

	type hit struct {
		e     *entry
		score int
	}
	var hits []hit
	consider := func(e *entry) {
		if country != "" && e.place.Country != "" && e.place.Country != country {
			return
		}
		if s := q.score(e); s > 0 {
			hits = append(hits, hit{e, s})
		}
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, e := range g.builtin {
		consider(e)
	}
	for _, e := range g.bays {
		consider(e)
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(
			cmp.Compare(b.score, a.score),
			cmp.Compare(a.e.rank, b.e.rank),
			cmp.Compare(a.e.place.Name, b.e.place.Name),
			cmp.Compare(a.e.place.Point.Lat, b.e.place.Point.Lat),
		)
	})
	out := make([]domain.Place, 0, min(len(hits), req.Limit))
	for _, h := range hits[:min(len(hits), req.Limit)] {
		out = append(out, g.placeLocked(h.e, req.Language))
	}
	return out, nil
}

// Reverse returns the places within the reverse radius of the point, nearest first.
func (g *Gazetteer) Reverse(_ context.Context, req domain.ReverseRequest) ([]domain.Place, error) {
	if err := req.Point.Validate(); err != nil {
		return nil, &domain.ProviderError{Provider: Name, Kind: domain.KindInvalidQuery, Err: err}
	}
	type near struct {
		e *entry
		d float64
	}
	var nearby []near
	consider := func(e *entry) {
		if d := domain.HaversineMeters(req.Point, e.place.Point); d <= g.radius {
			nearby = append(nearby, near{e, d})
		}
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, e := range g.builtin {
		consider(e)
	}
	for _, e := range g.bays {
		consider(e)
	}
	slices.SortFunc(nearby, func(a, b near) int {
		return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.e.rank, b.e.rank), cmp.Compare(a.e.place.Name, b.e.place.Name))
	})
	out := make([]domain.Place, 0, min(len(nearby), reverseLimit))
	for _, n := range nearby[:min(len(nearby), reverseLimit)] {
		out = append(out, g.placeLocked(n.e, req.Language))
	}
	return out, nil
}

// placeLocked is e as an answer in language; g.mu must be held for reading.
func (g *Gazetteer) placeLocked(e *entry, language string) domain.Place {
	p := e.place
	base, _, _ := strings.Cut(strings.ToLower(language), "-")
	if n, ok := e.names[base]; ok {
		p.Name = n
	}
	if e.zoneID != "" {
		if z, ok := g.zones[e.zoneID]; ok {
			p.Address = strings.Join(slices.DeleteFunc([]string{z.name, z.city}, func(s string) bool { return s == "" }), ", ")
		}
	}
	return p
}

// query is a search folded for matching.
type query struct {
	words []string
}

func newQuery(s string) query { return query{words: fold(s)} }

// Match strengths of one query word against one place word.
const (
	matchNone = iota
	matchInfix
	matchPrefix
	matchExact
)

// Score weights: a word found in the name counts four times one found in the address;
// a query word found nowhere costs; the whole query being the name, or its start, wins.
const (
	weightName    = 4
	weightAddress = 1
	missPenalty   = 6
	phraseExact   = 40
	phrasePrefix  = 12
	minInfixLen   = 3 // shorter words are inside too many names to mean anything
)

// score rates e for q; 0 or less means no match. At least one word must be in the
// name or aliases: a shared street or postcode alone does not make a place an answer.
// The phrase bonus compares the name with the query's words found in it, so that
// "Alexanderplatz 10178" still names the square exactly.
func (q query) score(e *entry) int {
	total := 0
	var named []string
	for _, w := range q.words {
		name := bestMatch(w, e.terms)
		addr := bestMatch(w, e.context)
		if addr == matchInfix {
			addr = matchNone // infixes of addresses ("str" in every street) are noise
		}
		switch {
		case name != matchNone:
			named = append(named, w)
			total += max(name*weightName, addr*weightAddress)
		case addr != matchNone:
			total += addr * weightAddress
		default:
			total -= missPenalty
		}
	}
	if len(named) == 0 {
		return 0
	}
	phrase := strings.Join(named, "")
	bonus := 0
	for _, p := range e.phrases {
		if p == phrase {
			bonus = phraseExact
			break
		}
		if strings.HasPrefix(p, phrase) {
			bonus = phrasePrefix
		}
	}
	return total + bonus
}

func bestMatch(w string, words []string) int {
	best := matchNone
	for _, t := range words {
		switch {
		case t == w:
			return matchExact
		case strings.HasPrefix(t, w):
			best = max(best, matchPrefix)
		case len(w) >= minInfixLen && strings.Contains(t, w):
			best = max(best, matchInfix)
		}
	}
	return best
}
