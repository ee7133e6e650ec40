package config_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
)

type dbConfig struct {
	URL config.Secret `env:"POSTGRES_URL" envDefault:"postgres://app:hunter2@127.0.0.1:5432/app?sslmode=disable"`
}

type testConfig struct {
	Addr    string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:8081"`
	Timeout time.Duration `env:"TIMEOUT" envDefault:"5s"`
	APIKey  config.Secret `env:"API_KEY"`
	DB      dbConfig
	Limit   int `env:"LIMIT" envDefault:"10"`
}

func (c testConfig) Validate() error {
	if c.Limit <= 0 {
		return errors.New("LIMIT must be positive")
	}
	return nil
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    testConfig
		wantErr string
	}{
		{
			name: "defaults",
			env:  map[string]string{},
			want: testConfig{Addr: "127.0.0.1:8081", Timeout: 5 * time.Second, Limit: 10,
				DB: dbConfig{URL: "postgres://app:hunter2@127.0.0.1:5432/app?sslmode=disable"}},
		},
		{
			name: "prefixed overrides",
			env:  map[string]string{"SVC_HTTP_ADDR": ":9000", "SVC_API_KEY": "k", "SVC_LIMIT": "3", "HTTP_ADDR": "ignored"},
			want: testConfig{Addr: ":9000", Timeout: 5 * time.Second, APIKey: "k", Limit: 3,
				DB: dbConfig{URL: "postgres://app:hunter2@127.0.0.1:5432/app?sslmode=disable"}},
		},
		{name: "validation", env: map[string]string{"SVC_LIMIT": "0"}, wantErr: "LIMIT must be positive"},
		{name: "parse error", env: map[string]string{"SVC_TIMEOUT": "soon"}, wantErr: `invalid duration "soon"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got testConfig
			err := config.LoadFrom("SVC_", tc.env, &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAttrsMaskSecrets(t *testing.T) {
	cfg := testConfig{Addr: ":1", APIKey: "sk_live_abc", DB: dbConfig{URL: "postgres://app:hunter2@db:5432/app"}}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", config.Attrs("SVC_", cfg)...)
	out := b.String()
	for _, leaked := range []string{"sk_live_abc", "hunter2"} {
		if strings.Contains(out, leaked) {
			t.Fatalf("secret %q leaked in %s", leaked, out)
		}
	}
	for _, want := range []string{"SVC_HTTP_ADDR=:1", "SVC_POSTGRES_URL=postgres://app:xxxxx@db:5432/app", "SVC_API_KEY=*****"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in %s", want, out)
		}
	}
	if s := fmt.Sprint(cfg.APIKey); s != "*****" {
		t.Fatalf("fmt printed %q", s)
	}
}
