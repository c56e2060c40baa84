"""Host side of the lockers: code issuing, SMS, and the pure modules' loader."""
