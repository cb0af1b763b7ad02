"""The core's vocabulary: plain dataclasses and enums, standard library only."""
