package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

func custPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t, migrations.Set())
}

var custNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func custNew(t *testing.T, id, email string) domain.Customer {
	t.Helper()
	c, err := domain.NewCustomer(domain.SignUp{ID: id, Name: "Grace Hopper", Email: email,
		DateOfBirth: time.Date(1990, 12, 9, 0, 0, 0, 0, time.UTC), Country: "NL", PreferredLanguage: "nl"}, custNow)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCustomersRoundTripAndConflicts(t *testing.T) {
	ctx := context.Background()
	repo := postgres.NewCustomers(custPool(t))
	c := custNew(t, "auth0|c1", "grace@example.org")
	if err := repo.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := repo.Customer(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != c.Email || !got.DateOfBirth.Equal(c.DateOfBirth) || got.Licence != nil || got.Block != nil ||
		got.PaymentMethod != "" || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("round trip: %+v, want %+v", got, c)
	}

	tests := []struct {
		name string
		c    domain.Customer
	}{
		{"same id", custNew(t, "auth0|c1", "other@example.org")},
		{"same email in other case", custNew(t, "auth0|c2", "GRACE@example.org")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Email = tt.c.Email // NewCustomer lower-cased it; the index compares lower() either way
			if err := repo.CreateCustomer(ctx, c); !errors.Is(err, domain.ErrConflict) {
				t.Fatalf("CreateCustomer = %v, want ErrConflict", err)
			}
		})
	}
	if _, err := repo.Customer(ctx, "nobody"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown customer: %v", err)
	}
}

func TestCustomersUpdateKeepsEverythingAndAudits(t *testing.T) {
	ctx := context.Background()
	repo := postgres.NewCustomers(custPool(t))
	c := custNew(t, "c1", "c1@example.org")
	if err := repo.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := repo.CreateCustomer(ctx, custNew(t, "c2", "c2@example.org")); err != nil {
		t.Fatal(err)
	}
	later := custNow.Add(time.Hour)
	got, err := repo.UpdateCustomer(ctx, "c1", func(c *domain.Customer) ([]domain.AuditEntry, error) {
		if err := c.SubmitLicence(domain.LicenceSubmission{Number: "NL1234567", Country: "NL",
			Expiry: time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC), Categories: []string{"B", "AM"}}, later); err != nil {
			return nil, err
		}
		if err := c.ReviewLicence(true, "", "staff-9", later); err != nil {
			return nil, err
		}
		if err := c.SetPaymentMethod("pm_card_visa", later); err != nil {
			return nil, err
		}
		if err := c.BlockBy("admin-1", "chargebacks", later); err != nil {
			return nil, err
		}
		return []domain.AuditEntry{
			{CustomerID: "c1", Action: domain.AuditLicenceVerified, Actor: "staff-9", At: later},
			{CustomerID: "c1", Action: domain.AuditBlocked, Reason: "chargebacks", Actor: "admin-1", At: later},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	read, err := repo.Customer(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []domain.Customer{got, read} {
		l := c.Licence
		if l == nil || l.Status != domain.LicenceVerified || l.Number != "NL1234567" || l.ReviewedBy != "staff-9" ||
			len(l.Categories) != 2 || !l.Expiry.Equal(time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC)) || !l.ReviewedAt.Equal(later) {
			t.Fatalf("licence = %+v", l)
		}
		if c.PaymentMethod != "pm_card_visa" || c.Block == nil || c.Block.By != "admin-1" || !c.Block.At.Equal(later) {
			t.Fatalf("customer = %+v, block %+v", c, c.Block)
		}
	}
	if err := read.Eligible(domain.Car, later); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("blocked customer read back is eligible: %v", err)
	}
	audit, err := repo.Audit(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[1].Action != domain.AuditBlocked || audit[1].Actor != "admin-1" || audit[1].Reason != "chargebacks" {
		t.Fatalf("audit = %+v", audit)
	}

	// A failing closure writes nothing, audit included.
	boom := errors.New("boom")
	if _, err := repo.UpdateCustomer(ctx, "c1", func(c *domain.Customer) ([]domain.AuditEntry, error) {
		c.Name = "changed"
		return []domain.AuditEntry{{CustomerID: "c1", Action: domain.AuditUnblocked, Actor: "x", At: later}}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("closure error: %v", err)
	}
	if read, _ := repo.Customer(ctx, "c1"); read.Name == "changed" {
		t.Fatal("a failed update was written")
	}
	if audit, _ := repo.Audit(ctx, "c1"); len(audit) != 2 {
		t.Fatalf("a failed update was audited: %+v", audit)
	}
	// Taking another customer's email is a conflict.
	if _, err := repo.UpdateCustomer(ctx, "c2", func(c *domain.Customer) ([]domain.AuditEntry, error) {
		c.Email = "c1@example.org"
		return nil, nil
	}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("email taken: %v, want ErrConflict", err)
	}
	if _, err := repo.UpdateCustomer(ctx, "ghost", func(*domain.Customer) ([]domain.AuditEntry, error) { return nil, nil }); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown customer: %v", err)
	}
}

func TestCustomersSchemaRefusesHalfRecords(t *testing.T) {
	ctx := context.Background()
	pool := custPool(t)
	repo := postgres.NewCustomers(pool)
	if err := repo.CreateCustomer(ctx, custNew(t, "c1", "c1@example.org")); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, sql string }{
		{"block without its author", `UPDATE customers SET blocked_at = now(), block_reason = 'x' WHERE id = 'c1'`},
		{"licence without number", `UPDATE customers SET licence_status = 'submitted', licence_country = 'DE',
			licence_expiry = '2030-01-01', licence_submitted_at = now() WHERE id = 'c1'`},
		{"verified licence without reviewer", `UPDATE customers SET licence_status = 'verified', licence_number = 'X12345',
			licence_country = 'DE', licence_expiry = '2030-01-01', licence_submitted_at = now() WHERE id = 'c1'`},
		{"unknown audit action", `INSERT INTO customer_audit (customer_id, action, actor, at) VALUES ('c1', 'deleted', 'x', now())`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pool.Exec(ctx, tt.sql); err == nil {
				t.Fatal("the schema accepted it")
			}
		})
	}
}

func TestCustomersListFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	repo := postgres.NewCustomers(custPool(t))
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if err := repo.CreateCustomer(ctx, custNew(t, id, id+"@example.org")); err != nil {
			t.Fatal(err)
		}
	}
	submit := func(c *domain.Customer) ([]domain.AuditEntry, error) {
		return nil, c.SubmitLicence(domain.LicenceSubmission{Number: "D12345", Country: "DE",
			Expiry: custNow.AddDate(3, 0, 0), Categories: []string{"B"}}, custNow)
	}
	for _, id := range []string{"b", "d", "e"} {
		if _, err := repo.UpdateCustomer(ctx, id, submit); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := repo.UpdateCustomer(ctx, "e", func(c *domain.Customer) ([]domain.AuditEntry, error) {
		return nil, c.BlockBy("admin", "fraud", custNow)
	}); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		name  string
		f     app.CustomerFilter
		after string
		limit int
		want  string
	}{
		{"all", app.CustomerFilter{}, "", 10, "abcde"},
		{"first page", app.CustomerFilter{}, "", 2, "ab"},
		{"second page", app.CustomerFilter{}, "b", 2, "cd"},
		{"licences to review", app.CustomerFilter{LicenceStatus: domain.LicenceSubmitted}, "", 10, "bde"},
		{"to review, not blocked", app.CustomerFilter{LicenceStatus: domain.LicenceSubmitted, Blocked: &no}, "", 10, "bd"},
		{"blocked", app.CustomerFilter{Blocked: &yes}, "", 10, "e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := repo.Customers(ctx, tt.f, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, c := range cs {
				got += c.ID
			}
			if got != tt.want {
				t.Fatalf("ids %q, want %q", got, tt.want)
			}
		})
	}
}

// A booking transaction that checked eligibility holds the customer: a
// concurrent block waits until it ends, and a check after the block refuses.
func TestLockEligibleTxHoldsOffABlock(t *testing.T) {
	ctx := context.Background()
	pool := custPool(t)
	repo := postgres.NewCustomers(pool)
	c := custNew(t, "c1", "c1@example.org")
	c.PaymentMethod = "pm_card_visa"
	if err := repo.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if err := repo.LockEligibleTx(ctx, tx, "c1", domain.EBike, custNow); err != nil {
		t.Fatalf("eligible customer refused: %v", err)
	}

	blocked := make(chan error, 1)
	go func() {
		_, err := repo.UpdateCustomer(ctx, "c1", func(c *domain.Customer) ([]domain.AuditEntry, error) {
			return nil, c.BlockBy("admin", "fraud", custNow)
		})
		blocked <- err
	}()
	select {
	case err := <-blocked:
		t.Fatalf("block finished while a booking held the customer: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err != nil {
		t.Fatalf("block after the booking: %v", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return repo.LockEligibleTx(ctx, tx, "c1", domain.EBike, custNow)
	})
	var ie *domain.IneligibleError
	if !errors.As(err, &ie) || ie.Reason != domain.ReasonBlocked {
		t.Fatalf("booking after the block: %v, want blocked", err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return repo.LockEligibleTx(ctx, tx, "ghost", domain.EBike, custNow)
	}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown customer: %v", err)
	}
}
