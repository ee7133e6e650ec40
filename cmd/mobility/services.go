package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// platformService describes one platform service as the CLI starts it locally.
// Ports are fixed and documented in the README's service table.
type platformService struct {
	Name      string
	EnvPrefix string
	HTTPPort  int
	Database  string
	Extra     string // other listeners, for the printed table
}

func platformServices() []platformService {
	return []platformService{
		{Name: "booking", EnvPrefix: "BOOKING_", HTTPPort: 8081, Database: "mobility_booking"},
		{Name: "telemetry-ingest", EnvPrefix: "TELEMETRY_", HTTPPort: 8082, Database: "mobility_telemetry"},
		{Name: "genai-gateway", EnvPrefix: "GENAI_", HTTPPort: 8083, Database: "mobility_genai"},
		{Name: "payments", EnvPrefix: "PAYMENTS_", HTTPPort: 8084, Database: "mobility_payments"},
		{Name: "maps-proxy", EnvPrefix: "MAPS_", HTTPPort: 8085, Database: "mobility_maps"},
	}
}

func (s platformService) url() string { return fmt.Sprintf("http://127.0.0.1:%d", s.HTTPPort) }

func printServices(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tURL\tENV PREFIX\tDATABASE\tOTHER")
	for _, s := range platformServices() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.url(), s.EnvPrefix, s.Database, s.Extra)
	}
	return tw.Flush()
}
