"""Logs the flag `x_flag` as the output scalar `x_metric`."""

x_flag = 1.0

print("x_metric: %s" % x_flag)
