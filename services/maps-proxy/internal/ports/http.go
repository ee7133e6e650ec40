// Package ports is the maps-proxy's HTTP edge: the handlers of api/openapi.yaml
// (decoding, field validation, error mapping to problem+json), their authentication
// and role guard, and the per-client rate limiter shared by all replicas.
package ports

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/maps-proxy/api"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// MapsService is what the handlers need from the use cases (app.Service implements it).
// It returns domain.ErrInvalidInput for requests the caller must fix and
// domain.ErrNoRoute for unconnected points; provider failures never reach here.
type MapsService interface {
	Route(ctx context.Context, req domain.RouteRequest) (domain.RouteResult, error)
	Matrix(ctx context.Context, req domain.MatrixRequest) (domain.MatrixResult, error)
	ETA(ctx context.Context, origin domain.LatLng, dests []domain.LatLng, p domain.Profile) ([]domain.MatrixCell, error)
	Geocode(ctx context.Context, req domain.GeocodeRequest) (domain.GeocodeResult, error)
	Reverse(ctx context.Context, req domain.ReverseRequest) (domain.GeocodeResult, error)
}

// DefaultMaxBodyBytes bounds a request body. The largest valid request (a 1 × 625
// matrix) is about 30 KB, so this leaves room for pretty-printing and nothing more.
const DefaultMaxBodyBytes = 256 << 10

// specContentType is the media type of GET /openapi.yaml (RFC 9512).
const specContentType = "application/yaml"

// HandlerOptions configures NewHandler and Mount.
type HandlerOptions struct {
	// Authenticate verifies the bearer token and puts the principal in the request
	// context: (*auth.Verifier).Authenticate. Required.
	Authenticate func(http.Handler) http.Handler
	// RateLimit runs after authentication and the role check, so it can key on the
	// principal: (*RateLimiter).Middleware. Nil means no per-client limit.
	RateLimit func(http.Handler) http.Handler
	// MaxBodyBytes caps request bodies (413 past it); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives unexpected service errors; nil discards them.
	Logger *slog.Logger
}

// NewHandler returns a router serving GET /openapi.yaml and the /v1 operations, with
// problem+json answers for unknown paths and methods. A service whose router already
// has the platform middleware (httpx.NewRouter) uses Mount instead.
func NewHandler(svc MapsService, opts HandlerOptions) (http.Handler, error) {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		problem.Write(w, req, problem.NotFound("no resource matches this path"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		problem.Write(w, req, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "",
			req.Method+" is not supported on this resource"))
	})
	if err := Mount(r, svc, opts); err != nil {
		return nil, err
	}
	return r, nil
}

// Mount adds GET /openapi.yaml (public) and the /v1 operations (bearer token with
// role service or staff, then the rate limit) to r.
func Mount(r chi.Router, svc MapsService, opts HandlerOptions) error {
	if svc == nil {
		return errors.New("ports: MapsService is required")
	}
	if opts.Authenticate == nil {
		return errors.New("ports: HandlerOptions.Authenticate is required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h := &handlers{svc: svc, logger: opts.Logger}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}

	r.Get("/openapi.yaml", serveSpec)
	r.Route("/v1", func(v chi.Router) {
		v.Use(opts.Authenticate, auth.RequireRole(auth.RoleService, auth.RoleStaff))
		if opts.RateLimit != nil {
			v.Use(opts.RateLimit)
		}
		v.Use(maxBody(opts.MaxBodyBytes))
		v.Post("/geocode", handle(h, geocodeRequestJSON.domainRequest, h.geocode))
		v.Post("/reverse", handle(h, reverseRequestJSON.domainRequest, h.reverse))
		v.Post("/route", handle(h, routeRequestJSON.domainRequest, h.route))
		v.Post("/matrix", handle(h, matrixRequestJSON.domainRequest, h.matrix))
		v.Post("/eta", handle(h, etaRequestJSON.domainRequest, h.eta))
	})
	return nil
}

func serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", specContentType)
	// The document changes only with a deployment; a few minutes of caching is safe.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(api.Spec)
}

func maxBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}

type handlers struct {
	svc    MapsService
	logger *slog.Logger
}

// handle is the shape every operation shares: decode the JSON body into In, turn it
// into the use case's request (or a 422 listing every invalid member), call, encode.
func handle[In, Req, Out any](h *handlers, parse func(In) (Req, error), call func(context.Context, Req) (Out, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in In
		if err := httpx.DecodeJSON(r, &in); err != nil {
			h.writeError(w, r, err)
			return
		}
		req, err := parse(in)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		out, err := call(r.Context(), req)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, out)
	}
}

func (h *handlers) geocode(ctx context.Context, req domain.GeocodeRequest) (placesResponseJSON, error) {
	res, err := h.svc.Geocode(ctx, req)
	if err != nil {
		return placesResponseJSON{}, err
	}
	return placesResponse(res), nil
}

func (h *handlers) reverse(ctx context.Context, req domain.ReverseRequest) (placesResponseJSON, error) {
	res, err := h.svc.Reverse(ctx, req)
	if err != nil {
		return placesResponseJSON{}, err
	}
	return placesResponse(res), nil
}

func (h *handlers) route(ctx context.Context, req domain.RouteRequest) (routeResponseJSON, error) {
	res, err := h.svc.Route(ctx, req)
	if err != nil {
		return routeResponseJSON{}, err
	}
	// The contract promises a recommended route; none at all can only mean none exists.
	if len(res.Routes) == 0 {
		return routeResponseJSON{}, domain.ErrNoRoute
	}
	return routeResponse(res), nil
}

func (h *handlers) matrix(ctx context.Context, req domain.MatrixRequest) (matrixResponseJSON, error) {
	res, err := h.svc.Matrix(ctx, req)
	if err != nil {
		return matrixResponseJSON{}, err
	}
	return matrixResponse(res), nil
}

func (h *handlers) eta(ctx context.Context, req etaRequest) (etaResponseJSON, error) {
	res, err := h.svc.ETA(ctx, req.Origin, req.Destinations, req.Profile)
	if err != nil {
		return etaResponseJSON{}, err
	}
	return etaResponseJSON{ETAs: cells(res)}, nil
}

// writeError maps an error to its documented problem. Problems (from DecodeJSON and
// field validation) pass through; the domain's two answers about the request get
// their status; anything else is unexpected and logged before the 500 (or the 503
// problem.WriteError gives a missed deadline).
func (h *handlers) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var p *problem.Problem
	switch {
	case errors.As(err, &p):
		problem.Write(w, r, p)
	case errors.Is(err, domain.ErrNoRoute):
		problem.Write(w, r, problem.New(http.StatusNotFound, "no-route", "No route",
			"the points are not connected for this profile"))
	case errors.Is(err, domain.ErrInvalidInput):
		problem.Write(w, r, problem.Validation(err.Error()))
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer and nothing is broken.
		h.logger.DebugContext(r.Context(), "request canceled by client", slog.String("path", r.URL.Path))
		problem.WriteError(w, r, err)
	default:
		h.logger.ErrorContext(r.Context(), "maps request failed",
			slog.String("path", r.URL.Path), slog.Any("error", err))
		problem.WriteError(w, r, err)
	}
}
