"""MLflow's REST wire format: entities to and from MLflow's JSON shapes, shared by server and client."""
