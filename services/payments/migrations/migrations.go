// Package migrations embeds the payments service's SQL migrations (goose format),
// applied at start-up after the platform's shared set.
package migrations

import (
	"embed"

	"github.com/mobilitycorp/platform/pkg/postgres"
)

//go:embed *.sql
var files embed.FS

// Set returns the service's migration set.
func Set() postgres.MigrationSet { return postgres.MigrationSet{Name: "payments", FS: files} }
