package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/booking/internal/adapters/photos"
)

// PHOTOS_STORE selects the photo store; s3 needs its endpoint and bucket.
func TestTripsConfigPhotoStore(t *testing.T) {
	base := TripsConfig{
		UnlockTimeout: time.Second, ReservationGrace: time.Minute, HoldLead: time.Minute, SchedulerInterval: time.Second,
		PhotoWindow: time.Minute, PhotoMaxBytes: 1, HoldReconcileInterval: time.Second,
	}
	tests := []struct {
		name    string
		edit    func(*TripsConfig)
		invalid bool
		s3      bool
	}{
		{"local", func(c *TripsConfig) { c.PhotosStore, c.PhotosDir = "local", filepath.Join(t.TempDir(), "p") }, false, false},
		{"s3", func(c *TripsConfig) {
			c.PhotosStore, c.S3Endpoint, c.S3Bucket, c.S3PathStyle = "s3", "http://127.0.0.1:9000", "photos", true
		}, false, true},
		{"s3 without bucket", func(c *TripsConfig) { c.PhotosStore, c.S3Endpoint = "s3", "http://127.0.0.1:9000" }, true, false},
		{"unknown store", func(c *TripsConfig) { c.PhotosStore = "gcs" }, true, false},
		{"no reconcile interval", func(c *TripsConfig) { c.PhotosStore, c.HoldReconcileInterval = "local", 0 }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			if err := c.Validate(); (err != nil) != tt.invalid {
				t.Fatalf("Validate = %v, want invalid=%v", err, tt.invalid)
			}
			if tt.invalid {
				return
			}
			s, err := c.photoStore()
			if err != nil {
				t.Fatal(err)
			}
			if _, isS3 := s.(*photos.S3); isS3 != tt.s3 {
				t.Fatalf("store is %T, want s3=%v", s, tt.s3)
			}
		})
	}
}
