package http

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// The hand-written encoder of the search answer writes exactly what
// encoding/json writes, escaping included.
func TestAvailableVehiclesJSONMatchesEncodingJSON(t *testing.T) {
	eur := func(m int64) domain.Money { return domain.Money{AmountMinor: m, Currency: "EUR"} }
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	tests := []availableVehiclesJSON{
		{Items: []availableVehicleJSON{}, Center: domain.Point{Lat: 52.52, Lon: 13.405}, RadiusM: 500},
		{Items: []availableVehicleJSON{
			{VehicleID: "veh-1", VehicleType: domain.EScooter, Position: domain.Point{Lat: 52.520001, Lon: 13.404999}, DistanceM: 12,
				BatteryPct: 77.5, RangeKm: 0, City: "berlin", ZoneID: "z1", ReportedAt: at,
				Price: &availabilityPrice{UnlockFee: eur(100), PerMinute: eur(38), BasePerMinute: eur(25), Multiplier: 150}},
			{VehicleID: `odd "id" <&> é` + "\x01", VehicleType: domain.Van, Position: domain.Point{Lat: -0.0000001, Lon: 179.9999999}, DistanceM: 4999,
				BatteryPct: 1e-7, RangeKm: 123456.789, City: "münchen", ReportedAt: at.Add(-time.Hour)},
		}, Center: domain.Point{Lat: 0, Lon: -13.5}, RadiusM: 5000},
	}
	for i, out := range tests {
		want, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		got := appendAvailableVehicles(nil, out)
		if string(got) != string(want)+"\n" {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
