"""`bourg soak` (`make soak`): a small town runs for hours or days of virtual time on a real
mosquitto, with seeded traffic, parcels, outages and power cuts, and is checked for what only
shows after a long run (docs/soak.md)."""
