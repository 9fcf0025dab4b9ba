// SPDX-License-Identifier: GPL-3.0-or-later
// The conversion of hiredis replies into owned RedisReply values, driven by real hiredis replies:
// the input is bytes from a server (RESP), fed to a hiredis reader, and every reply it produces is
// converted, compared with the hiredis tree it came from, and freed.
#include "fuzzcheck.h"
#include "redis/redisreply.h"

#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <vector>

using namespace Cachedash;

namespace {

// RedisReply's limit: arrays nested deeper are replaced by an error. (hiredis 0.14 refuses nesting
// deeper than 7 itself; LLVMFuzzerInitialize checks the limit with a hand-made tree.)
constexpr int MaxDepth = 64;

// hiredis 0.14 allocates an array's element vector as soon as it reads the header, so "*2000000000"
// alone asks for 16 GB, which libFuzzer reports as running out of memory. That is hiredis's
// behaviour, not the conversion's: arrays longer than any input could fill are refused here
// (hiredis then reports "Out of memory" and the input ends).
constexpr int MaxElements = 1 << 16;
redisReplyObjectFunctions boundedFunctions;
void *(*defaultCreateArray)(const redisReadTask *, int) = nullptr;

void *createBoundedArray(const redisReadTask *task, int elements)
{
    return elements > MaxElements ? nullptr : defaultCreateArray(task, elements);
}

void checkSame(const redisReply *reply, const RedisReply &value, int depth)
{
    const QByteArray text = reply->str ? QByteArray(reply->str, qsizetype(reply->len)) : QByteArray();
    switch (reply->type) {
    case REDIS_REPLY_STRING:
        FUZZ_CHECK(value.isString() && value.isOk() && value.bytes() == text);
        FUZZ_CHECK(value.errorText().isEmpty());
        break;
    case REDIS_REPLY_STATUS: FUZZ_CHECK(value.isStatus() && value.isOk() && value.bytes() == text); break;
    case REDIS_REPLY_ERROR:
        FUZZ_CHECK(value.isError() && !value.isOk() && value.bytes() == text);
        FUZZ_CHECK(value.errorText() == QString::fromUtf8(text));
        break;
    case REDIS_REPLY_INTEGER:
        FUZZ_CHECK(value.isInteger() && value.isOk() && value.toInteger() == reply->integer);
        FUZZ_CHECK(value.bytes().isEmpty());
        break;
    case REDIS_REPLY_NIL:
        FUZZ_CHECK(value.isNil() && value.isOk() && value == RedisReply::nil());
        FUZZ_CHECK(value.toDebugString() == QStringLiteral("(nil)"));
        break;
    case REDIS_REPLY_ARRAY:
        if (depth >= MaxDepth) {
            FUZZ_CHECK(value.isError());
            break;
        }
        FUZZ_CHECK(value.isArray() && value.isOk() && value.bytes().isEmpty());
        FUZZ_CHECK(value.elements().size() == reply->elements);
        for (size_t i = 0; i < reply->elements; ++i)
            checkSame(reply->element[i], value.elements()[i], depth + 1);
        return;
    default: FUZZ_CHECK(!"a reply type hiredis 0.14 does not produce");
    }
    FUZZ_CHECK(value.elements().empty());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    // No reply at all is a lost connection, not a nil.
    const RedisReply lost = RedisReply::fromHiredis(nullptr);
    FUZZ_CHECK(lost.isFailure() && lost.failureKind() == RedisReply::Failure::ConnectionLost);

    // 100 arrays of one element nested in each other: converted down to MaxDepth, then an error.
    std::vector<redisReply> chain(101);
    std::vector<redisReply *> pointers(101);
    for (size_t i = 0; i < chain.size(); ++i) {
        pointers[i] = &chain[i];
        chain[i] = redisReply{};
        chain[i].type = REDIS_REPLY_ARRAY;
        chain[i].elements = 1;
    }
    for (size_t i = 0; i + 1 < chain.size(); ++i)
        chain[i].element = &pointers[i + 1];
    chain.back().type = REDIS_REPLY_INTEGER;
    chain.back().elements = 0;
    chain.back().integer = 42;
    const RedisReply deep = RedisReply::fromHiredis(&chain.front());
    checkSame(&chain.front(), deep, 0);
    const RedisReply *level = &deep;
    for (int depth = 0; depth < MaxDepth; ++depth) {
        FUZZ_CHECK(level->isArray() && level->elements().size() == 1);
        level = &level->elements().front();
    }
    FUZZ_CHECK(level->isError());

    redisReader *reader = redisReaderCreate();
    FUZZ_CHECK(reader);
    boundedFunctions = *reader->fn;
    defaultCreateArray = boundedFunctions.createArray;
    boundedFunctions.createArray = createBoundedArray;
    redisReaderFree(reader);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *reader = redisReaderCreate();
    FUZZ_CHECK(reader);
    reader->fn = &boundedFunctions;
    FUZZ_CHECK(redisReaderFeed(reader, reinterpret_cast<const char *>(data), size) == REDIS_OK);
    for (;;) {
        void *object = nullptr;
        if (redisReaderGetReply(reader, &object) != REDIS_OK)
            break; // a protocol error: the connection would be dropped here
        if (!object)
            break; // an incomplete reply: needs more input
        const auto *reply = static_cast<const redisReply *>(object);
        const RedisReply value = RedisReply::fromHiredis(reply);
        checkSame(reply, value, 0);
        FUZZ_CHECK(RedisReply::fromHiredis(reply) == value);
        const RedisReply copy = value;
        FUZZ_CHECK(copy == value);
        const QString shown = value.toDebugString();
        if (value.isArray())
            FUZZ_CHECK(shown.startsWith(u'[') && shown.endsWith(u']'));
        freeReplyObject(object);
    }
    redisReaderFree(reader);
    return 0;
}
