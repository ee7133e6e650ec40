package kafka

// PausedPartitions exposes which partitions have fetching paused, so tests can
// see backpressure happen.
func (c *Consumer) PausedPartitions() map[string][]int32 { return c.client.PauseFetchPartitions(nil) }
