package photos

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
)

// store is what both implementations offer.
type store interface {
	Put(ctx context.Context, key, contentType string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// newFakeS3 serves the S3 wire protocol in process (gofakes3, in memory),
// with bucket "photos" created; the client reaches it over real HTTP.
func newFakeS3(t *testing.T) (S3Config, *s3mem.Backend) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("photos"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return S3Config{Endpoint: srv.URL, Bucket: "photos", Region: "eu-central-1",
		AccessKeyID: "AKIDTEST", SecretAccessKey: "secret", PathStyle: true}, backend
}

// implementations are the stores every behaviour test runs against.
func implementations(t *testing.T) map[string]store {
	t.Helper()
	local, err := NewLocalDir(filepath.Join(t.TempDir(), "photos"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := newFakeS3(t)
	s3, err := NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]store{"local": local, "s3": s3}
}

func TestStoresBehaveAlike(t *testing.T) {
	ctx := context.Background()
	for name, s := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			data := []byte("\xff\xd8\xff\x00 jpeg bytes")
			if err := s.Put(ctx, "trips/t1/abc.jpg", "image/jpeg", data); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "trips/t1/abc.jpg")
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get = %q, %v; want %q", got, err, data)
			}
			// A retried upload overwrites; the last bytes win.
			again := []byte("\x89PNG second")
			if err := s.Put(ctx, "trips/t1/abc.jpg", "image/png", again); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, "trips/t1/abc.jpg"); err != nil || !bytes.Equal(got, again) {
				t.Fatalf("Get after overwrite = %q, %v; want %q", got, err, again)
			}
			if _, err := s.Get(ctx, "trips/t1/missing.jpg"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Get of a missing key = %v, want fs.ErrNotExist", err)
			}
		})
	}
}

func TestStoresRefuseBadKeys(t *testing.T) {
	ctx := context.Background()
	for name, s := range implementations(t) {
		for _, key := range []string{"", "../escape.jpg", "/etc/passwd", "trips/../../x", `trips\x.jpg`, "trips//x.jpg"} {
			if err := s.Put(ctx, key, "image/jpeg", []byte("x")); err == nil {
				t.Errorf("%s: Put(%q) succeeded, want refused", name, key)
			}
			if _, err := s.Get(ctx, key); err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: Get(%q) = %v, want refused as invalid", name, key, err)
			}
		}
	}
}

// The S3 store sends the content type with the object (served back to
// whoever reviews the photo) and reports a missing bucket instead of
// losing the photo.
func TestS3ContentTypeAndMissingBucket(t *testing.T) {
	ctx := context.Background()
	cfg, _ := newFakeS3(t)
	s, err := NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "trips/t2/p.png", "image/png", []byte("\x89PNG")); err != nil {
		t.Fatal(err)
	}
	info, err := s.client.StatObject(ctx, cfg.Bucket, "trips/t2/p.png", minio.StatObjectOptions{})
	if err != nil || info.ContentType != "image/png" || info.Size != 4 {
		t.Fatalf("stat = %+v, %v; want image/png of 4 bytes", info, err)
	}
	cfg.Bucket = "no-such-bucket"
	missing, err := NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := missing.Put(ctx, "trips/t2/p.png", "image/png", []byte("x")); err == nil {
		t.Fatal("Put into a missing bucket succeeded")
	}
}

func TestNewS3RefusesBadConfig(t *testing.T) {
	for _, cfg := range []S3Config{
		{Bucket: "b"},
		{Endpoint: "https://s3.example.com"},
		{Endpoint: "s3.example.com", Bucket: "b"},
		{Endpoint: "ftp://s3.example.com", Bucket: "b"},
		{Endpoint: "https://s3.example.com/some/path", Bucket: "b"},
	} {
		if _, err := NewS3(cfg); err == nil {
			t.Errorf("NewS3(%+v) succeeded, want refused", cfg)
		}
	}
}
