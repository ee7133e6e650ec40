package domain

import "math"

const earthRadiusMeters = 6_371_008.8

// HaversineMeters is the great-circle distance between a and b.
func HaversineMeters(a, b LatLng) float64 {
	lat1, lat2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dLat := lat2 - lat1
	dLon := (b.Lon - a.Lon) * math.Pi / 180
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1)*math.Cos(lat2)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusMeters * math.Asin(math.Min(1, math.Sqrt(h)))
}

// EstimateParams are the estimator's assumptions per profile.
type EstimateParams struct {
	DetourFactor float64 // street distance ÷ great-circle distance
	SpeedMPS     float64 // average door-to-door speed
}

// DefaultEstimateParams are typical urban values: streets are about 30 % longer than
// the crow flies; walking 4.8 km/h, cycling 15 km/h, e-scooters 18 km/h, cars 25 km/h
// average in city traffic.
func DefaultEstimateParams() map[Profile]EstimateParams {
	return map[Profile]EstimateParams{
		ProfileFoot:    {DetourFactor: 1.3, SpeedMPS: 4.8 / 3.6},
		ProfileBike:    {DetourFactor: 1.3, SpeedMPS: 15 / 3.6},
		ProfileScooter: {DetourFactor: 1.3, SpeedMPS: 18 / 3.6},
		ProfileCar:     {DetourFactor: 1.4, SpeedMPS: 25 / 3.6},
	}
}

// Estimator answers without any provider: great-circle distance × a detour factor,
// at a speed per profile.
type Estimator struct {
	Params map[Profile]EstimateParams
}

// NewEstimator uses DefaultEstimateParams.
func NewEstimator() Estimator { return Estimator{Params: DefaultEstimateParams()} }

// Leg estimates travel between two points.
func (e Estimator) Leg(from, to LatLng, p Profile) (distanceMeters, durationSeconds float64) {
	params, ok := e.Params[p]
	if !ok {
		params = e.Params[ProfileFoot]
	}
	d := HaversineMeters(from, to) * params.DetourFactor
	return d, d / params.SpeedMPS
}

// Route estimates a route through every point of req; the geometry is the straight
// lines between them.
func (e Estimator) Route(req RouteRequest) Route {
	pts := req.Points()
	var dist, dur float64
	for i := 1; i < len(pts); i++ {
		d, t := e.Leg(pts[i-1], pts[i], req.Profile)
		dist += d
		dur += t
	}
	return Route{DistanceMeters: dist, DurationSeconds: dur, Polyline: EncodePolyline(pts)}
}

// Cell estimates one matrix cell.
func (e Estimator) Cell(from, to LatLng, p Profile) MatrixCell {
	d, t := e.Leg(from, to, p)
	return MatrixCell{DistanceMeters: d, DurationSeconds: t, Reachable: true, Source: SourceEstimate}
}
