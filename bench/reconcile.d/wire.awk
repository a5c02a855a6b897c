# What crossed the TCP connections to one server port, from `tcpdump -r <capture> -nn -q -tt`
# lines ("<time> IP 127.0.0.1.<port> > 127.0.0.1.<port>: tcp <payload bytes>"). Prints
#   connections  client->server bytes  server->client bytes  round trips
# Bytes are TCP payload (the PostgreSQL protocol: messages with their headers, query text,
# connection start-up and authentication), not IP/TCP headers. A round trip is counted each time
# a client sends data after the server last spoke on that connection (or first sends on it): the
# SSL request, the start-up packet, each query or batch, the final Terminate.
# Usage: awk -v port=<server port> -f wire.awk
$2 == "IP" && $6 == "tcp" {
	src = $3
	dst = $5
	sub(/:$/, "", dst)
	len = $7 + 0
	if (src ~ ("\\." port "$")) {
		dir = "s"
		conn = dst
	} else if (dst ~ ("\\." port "$")) {
		dir = "c"
		conn = src
	} else
		next
	seen[conn] = 1
	if (len == 0)
		next
	if (dir == "c") {
		c2s += len
		if (last[conn] != "c")
			rt++
	} else
		s2c += len
	last[conn] = dir
}
END {
	n = 0
	for (k in seen)
		n++
	printf "%d %d %d %d\n", n, c2s, s2c, rt
}
