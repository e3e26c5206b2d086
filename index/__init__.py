"""Building the index: ingestion, segmentation, embedding and the on-disk format."""
