// Package nominatim calls a Nominatim server's /search and /reverse endpoints
// (format=jsonv2) and maps its answers and failures onto the domain.
package nominatim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/upstream"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Config configures the client.
type Config struct {
	// BaseURL is the server root, e.g. "https://nominatim.openstreetmap.org".
	BaseURL string
	// UserAgent identifies the application, as the usage policy requires; default
	// DefaultUserAgent. Email, when set, is appended as the contact.
	UserAgent string
	// Email is the contact address the usage policy asks heavy users for; it is
	// sent in the User-Agent and as the email parameter.
	Email string
	// Name is the provider name in errors and results; default "nominatim".
	Name string
}

// DefaultUserAgent identifies the maps-proxy when Config.UserAgent is empty.
const DefaultUserAgent = "MobilityCorp-maps-proxy/1.0"

// Validate reports a configuration the client cannot work with.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("nominatim: base URL %q must be an absolute http(s) URL", c.BaseURL)
	}
	if c.Email != "" && !strings.Contains(c.Email, "@") {
		return fmt.Errorf("nominatim: email %q is not an address", c.Email)
	}
	return nil
}

// Client implements the app's Geocoder over Nominatim.
type Client struct {
	cfg  Config
	base string
	up   upstream.Caller
}

// defaultTimeout bounds a call when the caller passes no client.
const defaultTimeout = 10 * time.Second

// New builds a client; hc nil means a client with a 10 s timeout.
func New(cfg Config, hc *http.Client) *Client {
	if cfg.Name == "" {
		cfg.Name = "nominatim"
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	if cfg.Email != "" && !strings.Contains(ua, cfg.Email) {
		ua += " (" + cfg.Email + ")"
	}
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	return &Client{
		cfg:  cfg,
		base: strings.TrimRight(cfg.BaseURL, "/"),
		up:   upstream.Caller{Provider: cfg.Name, HTTP: hc, UserAgent: ua},
	}
}

// Name is the provider name.
func (c *Client) Name() string { return c.cfg.Name }

// UserAgent is the User-Agent header the client sends.
func (c *Client) UserAgent() string { return c.up.UserAgent }

// place is the part of a jsonv2 result we use. Nominatim sends lat/lon as strings.
type place struct {
	Lat         string `json:"lat"`
	Lon         string `json:"lon"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Category    string `json:"category"`
	Type        string `json:"type"`
	Address     struct {
		CountryCode string `json:"country_code"`
	} `json:"address"`
	// Error is set instead of the place fields when the request failed: a string
	// ("Unable to geocode") or an object {"code":400,"message":"..."}.
	Error json.RawMessage `json:"error"`
}

func (c *Client) params(language string) url.Values {
	q := url.Values{}
	q.Set("format", "jsonv2")
	q.Set("addressdetails", "1")
	if language != "" {
		q.Set("accept-language", language)
	}
	if c.cfg.Email != "" {
		q.Set("email", c.cfg.Email)
	}
	return q
}

// Geocode searches free text.
func (c *Client) Geocode(ctx context.Context, req domain.GeocodeRequest) ([]domain.Place, error) {
	q := c.params(req.Language)
	q.Set("q", req.Query)
	if req.Limit > 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	if req.Country != "" {
		q.Set("countrycodes", strings.ToLower(req.Country))
	}
	body, status, err := c.call(ctx, "search", c.base+"/search?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(body, []byte("[")) {
		// Errors come as an object where a result array was due.
		var p place
		if err := json.Unmarshal(body, &p); err != nil || len(p.Error) == 0 {
			return nil, c.up.Fail(domain.KindMalformed, status, "", errors.New("search: answer is neither a result array nor an error"))
		}
		return nil, c.placeError("search", status, p.Error)
	}
	var raw []place
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, c.up.Fail(domain.KindMalformed, status, "", fmt.Errorf("search: decode: %w", err))
	}
	if len(raw) == 0 {
		return nil, c.up.Fail(domain.KindZeroResults, status, "", errors.New("search: nothing found"))
	}
	if req.Limit > 0 && len(raw) > req.Limit {
		raw = raw[:req.Limit]
	}
	places := make([]domain.Place, 0, len(raw))
	for i, p := range raw {
		dp, err := toPlace(p)
		if err != nil {
			return nil, c.up.Fail(domain.KindMalformed, status, "", fmt.Errorf("search: result %d: %w", i, err))
		}
		places = append(places, dp)
	}
	return places, nil
}

// Reverse finds the place at a point; Nominatim returns at most one.
func (c *Client) Reverse(ctx context.Context, req domain.ReverseRequest) ([]domain.Place, error) {
	q := c.params(req.Language)
	q.Set("lat", strconv.FormatFloat(req.Point.Lat, 'f', -1, 64))
	q.Set("lon", strconv.FormatFloat(req.Point.Lon, 'f', -1, 64))
	body, status, err := c.call(ctx, "reverse", c.base+"/reverse?"+q.Encode())
	if err != nil {
		return nil, err
	}
	var p place
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, c.up.Fail(domain.KindMalformed, status, "", fmt.Errorf("reverse: decode: %w", err))
	}
	if len(p.Error) > 0 {
		return nil, c.placeError("reverse", status, p.Error)
	}
	dp, err := toPlace(p)
	if err != nil {
		return nil, c.up.Fail(domain.KindMalformed, status, "", fmt.Errorf("reverse: %w", err))
	}
	return []domain.Place{dp}, nil
}

// call GETs u; statuses that carry no Nominatim answer become errors here.
func (c *Client) call(ctx context.Context, endpoint, u string) ([]byte, int, error) {
	r, err := c.up.Get(ctx, endpoint, u)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case r.Status == http.StatusTooManyRequests, r.Status >= 500,
		r.Status == http.StatusUnauthorized, r.Status == http.StatusForbidden:
		// 403 is how the public instance blocks clients that break the usage policy.
		return nil, r.Status, c.up.StatusError(endpoint, r)
	case r.Status >= 400:
		// Bad parameters come back as {"error":{...}}; anything else is a plain 4xx.
		var p place
		if json.Unmarshal(r.Body, &p) == nil && len(p.Error) > 0 {
			return nil, r.Status, c.placeError(endpoint, r.Status, p.Error)
		}
		return nil, r.Status, c.up.StatusError(endpoint, r)
	}
	return bytes.TrimSpace(r.Body), r.Status, nil
}

// placeError maps Nominatim's error member.
func (c *Client) placeError(endpoint string, status int, raw json.RawMessage) *domain.ProviderError {
	var msg string
	if err := json.Unmarshal(raw, &msg); err != nil {
		var obj struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return c.up.Fail(domain.KindMalformed, status, "", fmt.Errorf("%s: undecodable error member", endpoint))
		}
		msg = obj.Message
		if status < 400 && obj.Code >= 400 {
			status = obj.Code
		}
	}
	if strings.Contains(msg, "Unable to geocode") {
		return c.up.Fail(domain.KindZeroResults, status, "", fmt.Errorf("%s: %s", endpoint, msg))
	}
	if status >= 500 {
		return c.up.Fail(domain.KindUnavailable, status, "", fmt.Errorf("%s: %s", endpoint, msg))
	}
	return c.up.Fail(domain.KindInvalidQuery, status, "", fmt.Errorf("%s: %s", endpoint, msg))
}

func toPlace(p place) (domain.Place, error) {
	lat, err1 := strconv.ParseFloat(p.Lat, 64)
	lon, err2 := strconv.ParseFloat(p.Lon, 64)
	if err := errors.Join(err1, err2); err != nil {
		return domain.Place{}, fmt.Errorf("lat/lon %q,%q: %w", p.Lat, p.Lon, err)
	}
	name := p.Name
	if name == "" {
		// Unnamed objects (a house number, a bare road): the most specific part of the address.
		name, _, _ = strings.Cut(p.DisplayName, ",")
	}
	kind := p.Category + "/" + p.Type
	switch {
	case p.Category == "":
		kind = p.Type
	case p.Type == "":
		kind = p.Category
	}
	return domain.Place{
		Name:    strings.TrimSpace(name),
		Address: p.DisplayName,
		Point:   domain.LatLng{Lat: lat, Lon: lon},
		Country: strings.ToUpper(p.Address.CountryCode),
		Kind:    kind,
	}, nil
}
