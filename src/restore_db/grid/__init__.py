"""The reference grid of a study area and what lives on it: the grid and its tiles (:mod:`.reference`), study
areas (:mod:`.studyarea`), the tile engine that runs kernels in the server or on the client (:mod:`.engine`), and
the pixel-to-county rule (:mod:`.counties`)."""
