package photos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config locates an S3-compatible bucket (AWS S3, MinIO, Ceph, R2...).
type S3Config struct {
	// Endpoint is the service URL, e.g. https://s3.eu-central-1.amazonaws.com;
	// its scheme chooses TLS.
	Endpoint        string
	Bucket          string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// PathStyle addresses the bucket as endpoint/bucket/key instead of
	// bucket.endpoint/key (most self-hosted servers need it).
	PathStyle bool
	// Transport overrides the HTTP transport (tests, proxies); nil: the default.
	Transport http.RoundTripper
}

// S3 keeps objects in an S3-compatible bucket, one object per key. A PUT is
// atomic there: a reader sees the previous object or the whole new one.
type S3 struct {
	client *minio.Client
	bucket string
}

// NewS3 returns a store over cfg's bucket. It does not call the service: a
// wrong bucket or credentials show on the first Put.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("photos: S3 endpoint and bucket are required")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("photos: S3 endpoint %q must be http(s)://host[:port]", cfg.Endpoint)
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("photos: S3 client: %w", err)
	}
	return &S3{client: client, bucket: cfg.Bucket}, nil
}

// Put stores data under key with its content type.
func (s *S3) Put(ctx context.Context, key, contentType string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("photos: put %s: %w", key, err)
	}
	return nil
}

// Get reads the object stored under key; a missing one is fs.ErrNotExist.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.readErr(key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, s.readErr(key, err)
	}
	return b, nil
}

func (s *S3) readErr(key string, err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return fmt.Errorf("photos: read %s: %w", key, fs.ErrNotExist)
	}
	return fmt.Errorf("photos: read %s: %w", key, err)
}
