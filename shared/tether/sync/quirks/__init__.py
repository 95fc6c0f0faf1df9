"""The functions behind the named hooks of :mod:`tether.sync.hooks`, one module per provider
or per format they implement."""
