// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redispendingreply.h"

#include <QString>

struct redisReply;

namespace Cachedash {

struct RedisUrl;
class RedisTlsContext;

namespace detail {

// One connection to one server, over plain TCP or a unix socket (hiredis's async context on
// QSocketNotifiers) or over TLS (QSslSocket, with hiredis's command formatter and reply reader).
// Commands go out in order and their replies come back in order; the bytes of the commands issued
// in one turn of the event loop leave in one write, unless flush() sends them sooner.
//
// A command sent with a PendingCommand gets exactly one reply or nullptr: the connection holds a
// reference to it until then. Commands sent without one (SUBSCRIBE and friends, whose replies do
// not pair with commands) report every reply with a null command.
class RedisConnection
{
public:
    class Owner
    {
    public:
        // The connection is up: for TLS, the handshake is done and the certificate verified.
        virtual void connectionUp(RedisConnection *connection) = 0;
        // Connecting failed, or the connection was lost: `why` says why. The replies of the commands
        // in flight came first (as nullptr). The connection deletes itself after this returns.
        virtual void connectionDown(RedisConnection *connection, const QString &why) = 0;
        // A reply, valid during the call only; nullptr when the connection ended before it came.
        virtual void replyReceived(
            RedisConnection *connection, PendingCommand *command, const redisReply *reply)
            = 0;
        // Just before the bytes gathered so far are written: the last moment to add to them.
        virtual void aboutToWrite(RedisConnection *connection) = 0;

    protected:
        ~Owner() = default;
    };

    // Starts connecting. Nothing when the connection fails at once, with *error saying why.
    // `tls` is required for a TLS URL and ignored otherwise.
    static RedisConnection *open(
        const RedisUrl &url, const std::shared_ptr<const RedisTlsContext> &tls, Owner *owner, QString *error);

    // Queues a command; false when the connection is closing (the command then gets no reply).
    virtual bool send(int argc, const char **argv, const size_t *lengths, PendingCommand *command) = 0;
    // Bytes queued and not yet written.
    virtual size_t pendingBytes() const = 0;
    // Writes what is queued now, once the connection is up (aboutToWrite() first).
    virtual void flush() = 0;
    // Makes sure aboutToWrite() comes soon (at the next write), even with nothing queued yet.
    virtual void writeSoon() = 0;
    // True once connectionUp() was reported.
    virtual bool isUp() const = 0;
    // Why it has not come up yet, when the connect timeout ends the wait (and whether that is a
    // refusal: a TLS handshake a plain port never answers).
    virtual QString connectTimeoutReason(std::chrono::milliseconds timeout) = 0;
    // The reason the connection ended, as far as it knows one (empty if none).
    virtual QString errorString() const = 0;
    // The server, or its certificate, refused us: retrying will not help until someone changes
    // the URL, the options or the server (a certificate that does not verify, a client
    // certificate refused or missing).
    virtual bool refused() const = 0;
    // Ends the connection and deletes it (later, when called from inside one of its own callbacks).
    // The owner hears nothing more: the commands in flight complete with `failure` here.
    virtual void close(RedisReply failure) = 0;

protected:
    virtual ~RedisConnection() = default;
};

} // namespace detail
} // namespace Cachedash
