// fastify + @fastify/jwt peer for bench/peers.py: a node cluster of
// PEERS_WORKERS processes (default 2) sharing PORT, one route that verifies
// an HS256 Bearer token (pinned algorithm, issuer and audience).
'use strict';
const cluster = require('node:cluster');

const workers = Number(process.env.PEERS_WORKERS || 2);
const port = Number(process.env.PORT);

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const fastify = require('fastify')({ logger: false });
  fastify.register(require('@fastify/jwt'), {
    secret: process.env.PEERS_SECRET,
    verify: { algorithms: ['HS256'], allowedIss: 'tokengate', allowedAud: 'tokengate' },
  });
  fastify.get('/verify', async (request, reply) => {
    try {
      const claims = await request.jwtVerify();
      return { user: claims.sub };
    } catch (err) {
      return reply.code(401).send({ error: 'invalid token' });
    }
  });
  fastify.listen({ port, host: '127.0.0.1' });
}
