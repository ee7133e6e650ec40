package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

// The customer service satisfies what reservations declared they need.
var _ app.EligibilityChecker = (*app.Customers)(nil)

var custClock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func custService(t *testing.T) (*app.Customers, *postgres.Customers) {
	t.Helper()
	repo := postgres.NewCustomers(pgtest.New(t, migrations.Set()))
	return app.NewCustomers(repo, func() time.Time { return custClock }), repo
}

func custSignUp(id string) domain.SignUp {
	return domain.SignUp{ID: id, Name: "Margaret Hamilton", Email: "m" + id + "@example.org",
		DateOfBirth: time.Date(1996, 8, 17, 0, 0, 0, 0, time.UTC), Country: "FR", PreferredLanguage: "fr"}
}

var (
	custSelf     = app.Actor{ID: "c1", Customer: true}
	custOther    = app.Actor{ID: "c2", Customer: true}
	custStaff    = app.Actor{ID: "staff-1", Staff: true}
	custAdmin    = app.Actor{ID: "admin-1", Staff: true, Admin: true}
	custSvcActor = app.Actor{ID: "payments", Service: true}
	custRobot    = app.Actor{ID: "fraud-bot", Staff: true, Admin: true, Service: true}
	custNobody   = app.Actor{ID: "x"}
)

func TestSignUpIdentity(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		actor   app.Actor
		id      string
		wantID  string
		wantErr error
	}{
		{"customer: id taken from the token", custSelf, "", "c1", nil},
		{"customer: id equal to the token", custSelf, "c1", "c1", nil},
		{"customer: another id", custSelf, "c9", "", domain.ErrForbidden},
		{"staff: for someone", custStaff, "c7", "c7", nil},
		{"staff: without id", custStaff, "", "", domain.ErrInvalid},
		{"service: for someone", custSvcActor, "c8", "c8", nil},
		{"no role", custNobody, "", "", domain.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _ := custService(t)
			c, err := svc.SignUp(ctx, tt.actor, custSignUp(tt.id))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("SignUp = %v, want %v", err, tt.wantErr)
			}
			if err == nil && c.ID != tt.wantID {
				t.Fatalf("id %q, want %q", c.ID, tt.wantID)
			}
		})
	}
	svc, _ := custService(t)
	if _, err := svc.SignUp(ctx, custSelf, custSignUp("")); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignUp(ctx, custSelf, custSignUp("")); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("second sign-up: %v, want ErrConflict", err)
	}
}

// Who may do what to customer c1.
func TestCustomerAuthorization(t *testing.T) {
	ctx := context.Background()
	name, dob := "M. H.", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	licence := domain.LicenceSubmission{Number: "FR123456", Country: "FR", Expiry: custClock.AddDate(5, 0, 0), Categories: []string{"B"}}
	type op func(svc *app.Customers, a app.Actor) error
	ops := map[string]op{
		"get": func(s *app.Customers, a app.Actor) error { _, err := s.Get(ctx, a, "c1"); return err },
		"profile": func(s *app.Customers, a app.Actor) error {
			_, err := s.UpdateProfile(ctx, a, "c1", domain.ProfilePatch{Name: &name})
			return err
		},
		"date of birth": func(s *app.Customers, a app.Actor) error {
			_, err := s.UpdateProfile(ctx, a, "c1", domain.ProfilePatch{DateOfBirth: &dob})
			return err
		},
		"licence": func(s *app.Customers, a app.Actor) error {
			_, err := s.SubmitLicence(ctx, a, "c1", licence)
			return err
		},
		"payment": func(s *app.Customers, a app.Actor) error {
			_, err := s.SetPaymentMethod(ctx, a, "c1", "pm_card_visa")
			return err
		},
		"review": func(s *app.Customers, a app.Actor) error {
			if _, err := s.SubmitLicence(ctx, custSelf, "c1", licence); err != nil {
				return err
			}
			_, err := s.ReviewLicence(ctx, a, "c1", true, "")
			return err
		},
		"block": func(s *app.Customers, a app.Actor) error { _, err := s.Block(ctx, a, "c1", "fraud"); return err },
		"list": func(s *app.Customers, a app.Actor) error {
			_, err := s.List(ctx, a, app.CustomerFilter{}, "", 10)
			return err
		},
	}
	tests := []struct {
		op    string
		actor app.Actor
		ok    bool
	}{
		{"get", custSelf, true}, {"get", custOther, false}, {"get", custStaff, true}, {"get", custSvcActor, true}, {"get", custNobody, false},
		{"profile", custSelf, true}, {"profile", custOther, false}, {"profile", custStaff, true},
		{"date of birth", custSelf, false}, {"date of birth", custStaff, true}, {"date of birth", custSvcActor, false},
		{"licence", custSelf, true}, {"licence", custOther, false}, {"licence", custStaff, true},
		{"payment", custSelf, true}, {"payment", custOther, false}, {"payment", custSvcActor, true},
		{"review", custSelf, false}, {"review", custSvcActor, false}, {"review", custStaff, true}, {"review", custAdmin, true},
		{"review", app.Actor{ID: "c1", Customer: true, Staff: true}, false}, // staff never review their own licence
		{"block", custSelf, false}, {"block", custStaff, false}, {"block", custSvcActor, false}, {"block", custRobot, false},
		{"block", custAdmin, true},
		{"list", custSelf, false}, {"list", custStaff, true}, {"list", custSvcActor, true},
	}
	for _, tt := range tests {
		t.Run(tt.op+" by "+tt.actor.ID, func(t *testing.T) {
			svc, _ := custService(t)
			if _, err := svc.SignUp(ctx, custSelf, custSignUp("c1")); err != nil {
				t.Fatal(err)
			}
			err := ops[tt.op](svc, tt.actor)
			if tt.ok && err != nil {
				t.Fatalf("%s by %+v: %v", tt.op, tt.actor, err)
			}
			if !tt.ok && !errors.Is(err, domain.ErrForbidden) {
				t.Fatalf("%s by %+v = %v, want ErrForbidden", tt.op, tt.actor, err)
			}
		})
	}
}

func TestCustomerJourneyToEligibility(t *testing.T) {
	ctx := context.Background()
	svc, repo := custService(t)
	if _, err := svc.SignUp(ctx, custSelf, custSignUp("")); err != nil {
		t.Fatal(err)
	}
	reason := func(vt domain.VehicleType) domain.IneligibleReason {
		t.Helper()
		err := svc.CheckEligible(ctx, "c1", vt, custClock)
		if err == nil {
			return ""
		}
		var ie *domain.IneligibleError
		if !errors.As(err, &ie) || !errors.Is(err, domain.ErrForbidden) {
			t.Fatalf("CheckEligible: %v", err)
		}
		return ie.Reason
	}
	steps := []struct {
		name              string
		do                func() error
		wantBike, wantCar domain.IneligibleReason
	}{
		{"signed up", func() error { return nil }, domain.ReasonNoPaymentMethod, domain.ReasonLicenceMissing},
		{"card added", func() error {
			_, err := svc.SetPaymentMethod(ctx, custSelf, "c1", "pm_card_visa")
			return err
		}, "", domain.ReasonLicenceMissing},
		{"licence submitted", func() error {
			_, err := svc.SubmitLicence(ctx, custSelf, "c1", domain.LicenceSubmission{Number: "FR123456", Country: "FR",
				Expiry: custClock.AddDate(5, 0, 0), Categories: []string{"B"}})
			return err
		}, "", domain.ReasonLicenceNotVerified},
		{"licence verified", func() error { _, err := svc.ReviewLicence(ctx, custStaff, "c1", true, ""); return err }, "", ""},
		{"blocked", func() error { _, err := svc.Block(ctx, custAdmin, "c1", "chargebacks"); return err },
			domain.ReasonBlocked, domain.ReasonBlocked},
		{"unblocked", func() error { _, err := svc.Unblock(ctx, custAdmin, "c1", "settled"); return err }, "", ""},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := reason(domain.EBike); got != st.wantBike {
			t.Fatalf("after %s: bike %q, want %q", st.name, got, st.wantBike)
		}
		if got := reason(domain.Van); got != st.wantCar {
			t.Fatalf("after %s: van %q, want %q", st.name, got, st.wantCar)
		}
	}
	audit, err := repo.Audit(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.AuditEntry{
		{CustomerID: "c1", Action: domain.AuditLicenceVerified, Actor: "staff-1", At: custClock},
		{CustomerID: "c1", Action: domain.AuditBlocked, Reason: "chargebacks", Actor: "admin-1", At: custClock},
		{CustomerID: "c1", Action: domain.AuditUnblocked, Reason: "settled", Actor: "admin-1", At: custClock},
	}
	if len(audit) != len(want) {
		t.Fatalf("audit = %+v", audit)
	}
	for i := range want {
		if audit[i] != want[i] {
			t.Fatalf("audit[%d] = %+v, want %+v", i, audit[i], want[i])
		}
	}
	if err := svc.CheckEligible(ctx, "ghost", domain.EBike, custClock); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown customer: %v", err)
	}
}
