"""The ground floor: what every layer stands on (errors, the config, the store and its table reads and writes,
run paths). It imports nothing else of phaselog."""
