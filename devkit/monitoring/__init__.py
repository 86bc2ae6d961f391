"""The live run the monitoring proofs and the metric inventory scrape."""
