"""The T.30 fax protocol run by the host over a Class 1 modem: frames, timers, ECM, sender and receiver."""
