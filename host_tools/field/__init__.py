"""Field tools: what a technician runs against a real board or a site's broker (flash, deploy,
provision, config, doctor, monitor), and the registry of devices and keys they share."""
