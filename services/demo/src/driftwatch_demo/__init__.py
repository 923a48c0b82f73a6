"""driftwatch demo tools: synthetic churn data, the demo model's training, the traffic generator."""
