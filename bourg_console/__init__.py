"""The town console: what the fleet says over MQTT, stored and served to the town's staff and,
for parking availability, to the public (docs/console.md).

Layers: `topics` (pure: an MQTT message -> an observation or a refusal) <- `store` (the
database) <- `ingest` (the broker) and `web` (HTTP). The console reads the `bourg` tools'
packages, never the other way round."""
