package photos

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestLocalDirPutGet(t *testing.T) {
	ctx := context.Background()
	d, err := NewLocalDir(filepath.Join(t.TempDir(), "photos"))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("\xff\xd8\xff jpeg bytes")
	if err := d.Put(ctx, "trips/t1/abc.jpg", "image/jpeg", data); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(ctx, "trips/t1/abc.jpg")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, %v; want %q", got, err, data)
	}
	// Overwriting the same key is allowed (a retried upload).
	if err := d.Put(ctx, "trips/t1/abc.jpg", "image/jpeg", data); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(d.root, "trips", "t1"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("directory holds %d entries (%v), want the one photo and no temporary files", len(entries), err)
	}
}

func TestLocalDirRefusesKeysOutsideRoot(t *testing.T) {
	d, err := NewLocalDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "../escape.jpg", "/etc/passwd", "trips/../../x", `trips\x.jpg`} {
		if err := d.Put(context.Background(), key, "image/jpeg", []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded, want refused", key)
		}
	}
}
