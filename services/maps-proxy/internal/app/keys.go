package app

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// keyVersion prefixes every cache key; bump it when the encoding or the
// normalisation changes so old entries are simply never read again.
const keyVersion = "v1"

func routeKey(r domain.RouteRequest) string {
	var b strings.Builder
	b.Grow(32 + 20*(len(r.Waypoints)+2))
	b.WriteString(keyVersion + ":route:")
	b.WriteString(string(r.Profile))
	if r.Alternatives {
		b.WriteString(":alt:")
	} else {
		b.WriteString(":one:")
	}
	b.WriteString(r.Language)
	b.WriteByte(':')
	for i, p := range r.Points() {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(p.Key())
	}
	return b.String()
}

// cellKey names one matrix cell, so every matrix and ETA that shares a
// (source, destination, profile) shares its answer.
func cellKey(p domain.Profile, src, dst string) string {
	return keyVersion + ":cell:" + string(p) + ":" + src + ">" + dst
}

func geocodeKey(r domain.GeocodeRequest) string {
	return keyVersion + ":geocode:" + r.Language + ":" + r.Country + ":" + strconv.Itoa(r.Limit) + ":" + strings.ToLower(r.Query)
}

func reverseKey(r domain.ReverseRequest) string {
	return keyVersion + ":reverse:" + r.Language + ":" + r.Point.Key()
}

// normaliseLanguage lower-cases a BCP 47 tag and rejects anything else, so the
// tag is safe inside keys and provider URLs.
func normaliseLanguage(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 35 {
		return "", fmt.Errorf("%w: language must be a BCP 47 tag", domain.ErrInvalidInput)
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return "", fmt.Errorf("%w: language must be a BCP 47 tag", domain.ErrInvalidInput)
		}
	}
	return s, nil
}

func normaliseCountry(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return "", fmt.Errorf("%w: country must be an ISO 3166-1 alpha-2 code", domain.ErrInvalidInput)
		}
	}
	return s, nil
}

// normaliseQuery trims and collapses runs of white space; the cache key also
// lower-cases it, but providers get the caller's capitalisation.
func normaliseQuery(s string) string { return strings.Join(strings.Fields(s), " ") }

func normaliseProfile(p domain.Profile) (domain.Profile, error) {
	return domain.ParseProfile(strings.ToLower(strings.TrimSpace(string(p))))
}

func normaliseRoute(r domain.RouteRequest) (domain.RouteRequest, error) {
	var err error
	if r.Profile, err = normaliseProfile(r.Profile); err != nil {
		return r, err
	}
	if r.Language, err = normaliseLanguage(r.Language); err != nil {
		return r, err
	}
	return r, r.Validate()
}

func normaliseMatrix(r domain.MatrixRequest) (domain.MatrixRequest, error) {
	var err error
	if r.Profile, err = normaliseProfile(r.Profile); err != nil {
		return r, err
	}
	return r, r.Validate()
}

func normaliseGeocode(r domain.GeocodeRequest) (domain.GeocodeRequest, error) {
	var err error
	r.Query = normaliseQuery(r.Query)
	if r.Language, err = normaliseLanguage(r.Language); err != nil {
		return r, err
	}
	if r.Country, err = normaliseCountry(r.Country); err != nil {
		return r, err
	}
	return r, r.Validate()
}

func normaliseReverse(r domain.ReverseRequest) (domain.ReverseRequest, error) {
	var err error
	if r.Language, err = normaliseLanguage(r.Language); err != nil {
		return r, err
	}
	return r, r.Point.Validate()
}
