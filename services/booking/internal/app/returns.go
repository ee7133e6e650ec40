package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// PhotoStore is object storage for return photos: S3-compatible in
// production, a local directory by default (adapters/photos).
type PhotoStore interface {
	// Put stores data under key; storing the same key again overwrites it.
	Put(ctx context.Context, key, contentType string, data []byte) error
}

// Photo is a stored proof-of-return photo.
type Photo struct {
	TripID      string
	SHA256      string
	Key         string
	ContentType string
	SizeBytes   int64
	UploadedAt  time.Time
}

// photoTypes are the accepted photo media types and their key extensions.
var photoTypes = map[string]string{"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic"}

// AddPhoto stores a proof-of-return photo of a trip: while it is active, or
// within the photo window after it ended (then it is announced at once as
// ReturnPhotosSubmittedV1; photos taken before the end go out with the end).
// The same content uploaded twice is stored once.
func (s *Trips) AddPhoto(ctx context.Context, caller Caller, tripID, contentType string, data []byte) (Photo, bool, error) {
	t, err := s.visible(ctx, caller, tripID)
	if err != nil {
		return Photo{}, false, err
	}
	now := s.opts.Now()
	if err := s.photoAllowed(t, now); err != nil {
		return Photo{}, false, err
	}
	ext, ok := photoTypes[strings.ToLower(contentType)]
	if !ok {
		return Photo{}, false, fmt.Errorf("%w: a photo must be JPEG, PNG, WebP or HEIC, not %q", domain.ErrInvalid, contentType)
	}
	if len(data) == 0 {
		return Photo{}, false, fmt.Errorf("%w: the photo is empty", domain.ErrInvalid)
	}
	if int64(len(data)) > s.opts.PhotoMaxBytes {
		return Photo{}, false, fmt.Errorf("%w: a photo is at most %d bytes", domain.ErrInvalid, s.opts.PhotoMaxBytes)
	}
	sum := sha256.Sum256(data)
	p := Photo{TripID: t.ID, SHA256: hex.EncodeToString(sum[:]), ContentType: strings.ToLower(contentType),
		SizeBytes: int64(len(data)), UploadedAt: now}
	p.Key = "trips/" + t.ID + "/" + p.SHA256 + "." + ext
	// Object first: a row never points at a missing object; an object whose
	// row failed is overwritten by the retry.
	if err := s.photos.Put(ctx, p.Key, p.ContentType, data); err != nil {
		return Photo{}, false, fmt.Errorf("store photo: %w", err)
	}
	return s.store.AddPhoto(ctx, p, func(t domain.Trip) ([]Outgoing, error) {
		if err := s.photoAllowed(t, now); err != nil {
			return nil, err
		}
		if t.State != domain.TripEnded {
			return nil, nil
		}
		ev, err := outgoing(events.TopicBookingReturns, t.ID, events.TypeReturnPhotosSubmittedV1, events.ReturnPhotosSubmittedV1{
			TripID: t.ID, CustomerID: t.CustomerID, VehicleID: t.VehicleID, PhotoKeys: []string{p.Key}, SubmittedAt: now,
		})
		return []Outgoing{ev}, err
	})
}

func (s *Trips) photoAllowed(t domain.Trip, now time.Time) error {
	switch {
	case t.State == domain.TripActive:
		return nil
	case t.State == domain.TripEnded && !now.After(t.EndedAt.Add(s.opts.PhotoWindow)):
		return nil
	}
	return fmt.Errorf("%w: photos are taken during a trip or within %s after it ended; trip %s is %s",
		domain.ErrConflict, s.opts.PhotoWindow, t.ID, t.State)
}

// Feedback is a customer's word on a trip, possibly reporting a fault.
type Feedback struct {
	TripID           string
	CustomerID       string
	VehicleID        string
	Rating           int // 1–5; 0 when not given
	Comment          string
	FaultCategory    string // "" when no fault is reported
	FaultDescription string
	FaultReportedAt  time.Time
	CreatedAt        time.Time
}

// Fault categories a customer can report.
var faultCategories = map[string]bool{
	"brakes": true, "battery": true, "tyres": true, "lights": true, "lock": true,
	"damage": true, "charging": true, "electronics": true, "other": true,
}

// AddFeedback records a trip's feedback. A reported fault puts the vehicle
// into maintenance review through the fleet registry; if that call fails, the
// scheduler retries it (RetryFaultReports).
func (s *Trips) AddFeedback(ctx context.Context, caller Caller, tripID string, f Feedback) (Feedback, error) {
	t, err := s.visible(ctx, caller, tripID)
	if err != nil {
		return Feedback{}, err
	}
	if t.State == domain.TripUnlocking {
		return Feedback{}, fmt.Errorf("%w: trip %s has not started", domain.ErrConflict, t.ID)
	}
	if f.Rating < 0 || f.Rating > 5 {
		return Feedback{}, fmt.Errorf("%w: rating is 1 to 5", domain.ErrInvalid)
	}
	if f.FaultCategory != "" && !faultCategories[f.FaultCategory] {
		return Feedback{}, fmt.Errorf("%w: unknown fault category %q", domain.ErrInvalid, f.FaultCategory)
	}
	if f.Rating == 0 && f.FaultCategory == "" && strings.TrimSpace(f.Comment) == "" {
		return Feedback{}, fmt.Errorf("%w: give a rating, a comment or a fault", domain.ErrInvalid)
	}
	f.TripID, f.CustomerID, f.VehicleID, f.CreatedAt = t.ID, t.CustomerID, t.VehicleID, s.opts.Now()
	if err := s.store.AddFeedback(ctx, f); err != nil {
		return Feedback{}, err
	}
	if f.FaultCategory != "" {
		if at, ok := s.reportFault(ctx, f); ok {
			f.FaultReportedAt = at
		}
	}
	return f, nil
}

// reportFault hands a fault to the fleet registry and records it went through.
func (s *Trips) reportFault(ctx context.Context, f Feedback) (time.Time, bool) {
	if err := s.deps.Faults.ReportFault(ctx, f.VehicleID, f.TripID, f.FaultCategory, f.FaultDescription); err != nil {
		s.opts.Logger.WarnContext(ctx, "fault report failed, will retry", slog.String("trip_id", f.TripID),
			slog.String("vehicle_id", f.VehicleID), slog.Any("error", err))
		return time.Time{}, false
	}
	at := s.opts.Now()
	if err := s.store.FaultReported(ctx, f.TripID, at); err != nil {
		s.opts.Logger.WarnContext(ctx, "record fault report", slog.String("trip_id", f.TripID), slog.Any("error", err))
		return time.Time{}, false
	}
	return at, true
}

// RetryFaultReports hands pending faults to the fleet registry again; it
// returns how many went through.
func (s *Trips) RetryFaultReports(ctx context.Context, limit int) (int, error) {
	pending, err := s.store.PendingFaults(ctx, limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range pending {
		if _, ok := s.reportFault(ctx, f); ok {
			n++
		}
	}
	return n, nil
}
