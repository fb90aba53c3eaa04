"""The resilience stage: indicators (:mod:`.indicators`), landscape metrics (:mod:`.landscape`), weights
(:mod:`.weights`) and the index with its classes (:mod:`.index`)."""
