"""Links: what carries records from the source cluster to mirror topics on the destination."""
