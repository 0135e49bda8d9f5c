placeholder for a SavedModel (the real file is binary and large; only its path matters here)
