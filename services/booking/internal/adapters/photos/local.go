// Package photos stores proof-of-return photos. LocalDir, a directory on the
// local disk, is the development default; production plugs an S3-compatible
// store in behind the same app.PhotoStore interface.
package photos

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LocalDir keeps objects as files under a root directory, one file per key.
type LocalDir struct {
	root string
}

// NewLocalDir returns a store rooted at dir, creating it if needed.
func NewLocalDir(dir string) (*LocalDir, error) {
	if dir == "" {
		return nil, errors.New("photos: directory is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("photos: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("photos: create %s: %w", abs, err)
	}
	return &LocalDir{root: abs}, nil
}

// checkKey refuses keys that are not clean relative slash paths (every store
// applies it, so a key valid in development is valid in production).
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, `\`) || !fs.ValidPath(key) {
		return fmt.Errorf("photos: invalid key %q", key)
	}
	return nil
}

// path maps a key to a file inside the root; keys that would leave it are refused.
func (d *LocalDir) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put writes data under key atomically (temporary file, then rename), so a
// reader never sees half a photo. contentType is implied by the key's extension.
func (d *LocalDir) Put(_ context.Context, key, _ string, data []byte) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("photos: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".upload-*")
	if err != nil {
		return fmt.Errorf("photos: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("photos: write %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("photos: write %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("photos: store %s: %w", key, err)
	}
	return nil
}

// Get reads the object stored under key; a missing one is fs.ErrNotExist.
func (d *LocalDir) Get(_ context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("photos: read %s: %w", key, err)
	}
	return b, nil
}
