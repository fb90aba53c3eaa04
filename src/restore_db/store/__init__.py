"""Where stored data is found: the layers of a study area (:mod:`.layers`)."""
