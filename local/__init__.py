"""Running the pipeline on one machine: embedded AWS (moto), event-source emulation, sample streams."""
