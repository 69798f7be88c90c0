"""Voice back-ends: voice activity detection, speaker embedding, speech enhancement, voice match."""
