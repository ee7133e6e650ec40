package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/service"
)

// devSecret is the HS256 secret `mobility up` gives every service. It only ever
// signs local development tokens; production verifies RS256/ES256 against a JWKS.
func devSecret() config.Secret {
	if s := os.Getenv("MOBILITY_DEV_JWT_SECRET"); s != "" {
		return config.Secret(s)
	}
	return service.DevJWTSecret
}

const (
	devIssuer   = "mobilitycorp"
	devAudience = "mobility-api"
)

func token(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	role := fs.String("role", "customer", "comma-separated roles: customer, staff, admin, service")
	sub := fs.String("sub", "", "subject (customer id, staff id or service name)")
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sub == "" {
		return fmt.Errorf("token: --sub is required")
	}
	var roles []auth.Role
	for _, r := range strings.Split(*role, ",") {
		switch ro := auth.Role(strings.TrimSpace(r)); ro {
		case auth.RoleCustomer, auth.RoleStaff, auth.RoleAdmin, auth.RoleService:
			roles = append(roles, ro)
		default:
			return fmt.Errorf("token: unknown role %q", r)
		}
	}
	signed, err := auth.NewHS256Signer(devSecret(), devIssuer, devAudience).Mint(*sub, roles, *ttl)
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	fmt.Fprintln(stdout, signed)
	return nil
}
