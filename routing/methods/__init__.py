"""Routing methods: the extension contract and the built-in email, folder and webhook methods."""

from routing.methods.base import RouteContext, RoutingFailure, RoutingMethod

__all__ = ["RouteContext", "RoutingFailure", "RoutingMethod"]
