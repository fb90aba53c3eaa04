"""What leaves the database: the ``bi`` relations (:mod:`.bi`), raster and vector exports (:mod:`.export`) and the
status summary (:mod:`.status`)."""
