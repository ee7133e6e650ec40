// Package config loads typed configuration structs from environment variables.
//
// Every service owns one struct; fields carry `env` and `envDefault` tags, nested
// structs share the service prefix (BOOKING_, PAYMENTS_, ...). After loading, a
// struct that implements Validator is validated, and Attrs renders it for the
// startup log line with secrets masked.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Validator is implemented by config structs that check their own values.
type Validator interface {
	Validate() error
}

// Secret is a string that never prints itself: logs, JSON and fmt see a mask.
type Secret string

const mask = "*****"

// Reveal returns the secret value; call it only where the value is used.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(string(s)); err == nil && u.Scheme != "" && u.Host != "" {
		return maskURL(u)
	}
	return mask
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps secrets out of JSON dumps.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// maskURL keeps scheme, host and path (useful when debugging) but hides credentials and query.
func maskURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.UserPassword(c.User.Username(), "xxxxx")
	}
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "pass") || strings.Contains(lk, "key") || strings.Contains(lk, "token") || strings.Contains(lk, "secret") {
				q.Set(k, "xxxxx")
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// Load fills cfg (a pointer to a struct) from the process environment. prefix is
// prepended to every variable name, e.g. "BOOKING_".
func Load(prefix string, cfg any) error {
	return LoadFrom(prefix, nil, cfg)
}

// LoadFrom is Load with an explicit environment (nil means the process environment),
// so tests and the developer CLI can build configs without touching os.Environ.
func LoadFrom(prefix string, environ map[string]string, cfg any) error {
	opts := env.Options{Prefix: prefix}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(cfg, opts); err != nil {
		return fmt.Errorf("parse %s* environment: %w", prefix, err)
	}
	if err := validate(reflect.ValueOf(cfg)); err != nil {
		return fmt.Errorf("invalid config: %w", err)
	}
	return nil
}

// validate calls Validate on cfg and on every nested struct that implements Validator.
func validate(v reflect.Value) error {
	var errs []error
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		if val, ok := v.Interface().(Validator); ok {
			if err := val.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return errors.Join(errs...)
	}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() || f.Kind() != reflect.Struct {
			continue
		}
		if err := validate(f.Addr()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Attrs flattens cfg into sorted slog attributes keyed by environment variable name,
// with Secret fields masked. Use it for the one startup line: log.Info("config", config.Attrs(p, cfg)...).
func Attrs(prefix string, cfg any) []any {
	flat := map[string]string{}
	flatten(prefix, reflect.ValueOf(cfg), flat)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]any, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.String(k, flat[k]))
	}
	return attrs
}

var secretType = reflect.TypeFor[Secret]()

func flatten(prefix string, v reflect.Value, out map[string]string) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fv := v.Field(i)
		if sf.Type.Kind() == reflect.Struct && sf.Type != secretType && sf.Tag.Get("env") == "" {
			flatten(prefix+sf.Tag.Get("envPrefix"), fv, out)
			continue
		}
		name := strings.Split(sf.Tag.Get("env"), ",")[0]
		if name == "" {
			continue
		}
		switch {
		case sf.Type == secretType:
			out[prefix+name] = fv.Interface().(Secret).String()
		case strings.Contains(sf.Tag.Get("env"), "secret") || sf.Tag.Get("secret") == "true":
			out[prefix+name] = mask
		default:
			out[prefix+name] = fmt.Sprint(fv.Interface())
		}
	}
}
