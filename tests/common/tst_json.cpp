// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/json.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

#include <cmath>
#include <limits>

using Cachedash::jsonNumber;
using Cachedash::jsonString;

namespace {

// What a standard parser makes of a JSON value: wrapped in an array, since a document must be one.
QJsonValue parsed(const QByteArray &json, QJsonParseError *error)
{
    const QJsonDocument doc = QJsonDocument::fromJson('[' + json + ']', error);
    return doc.array().isEmpty() ? QJsonValue(QJsonValue::Undefined) : doc.array().at(0);
}

} // namespace

class tst_Json : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void string_data();
    void string();
    void everyControlCharacterIsEscaped();
    void number_data();
    void number();
    void nonFiniteIsNull_data();
    void nonFiniteIsNull();
};

void tst_Json::string_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("empty") << QString() << QByteArray("\"\"");
    QTest::newRow("plain") << QStringLiteral("emea") << QByteArray("\"emea\"");
    QTest::newRow("quote") << QStringLiteral("a\"b") << QByteArray("\"a\\\"b\"");
    QTest::newRow("backslash") << QStringLiteral("a\\b") << QByteArray("\"a\\\\b\"");
    QTest::newRow("newline, return, tab") << QStringLiteral("1\n2\r3\t4") << QByteArray("\"1\\n2\\r3\\t4\"");
    QTest::newRow("other control characters")
        << QString::fromLatin1("\x01x\x08\x0c\x1f", 5) << QByteArray("\"\\u0001x\\u0008\\u000c\\u001f\"");
    QTest::newRow("nul") << QString(QChar(0)) << QByteArray("\"\\u0000\"");
    // Allowed raw by JSON: no escape where none is needed.
    QTest::newRow("slash and DEL") << QString::fromLatin1("a/b\x7f") << QByteArray("\"a/b\x7f\"");
    QTest::newRow("latin") << QStringLiteral("zürich") << QByteArray("\"z\xc3\xbcrich\"");
    QTest::newRow("cjk") << QStringLiteral("東京") << QByteArray("\"\xe6\x9d\xb1\xe4\xba\xac\"");
    // Outside the Basic Multilingual Plane: a surrogate pair in UTF-16, one four-byte UTF-8
    // sequence here, never two three-byte halves.
    QTest::newRow("astral") << QString::fromUcs4(U"\U0001F600") << QByteArray("\"\xf0\x9f\x98\x80\"");
    QTest::newRow("astral between escapes")
        << (QStringLiteral("\n") + QString::fromUcs4(U"\U0001D49C") + QStringLiteral("\""))
        << QByteArray("\"\\n\xf0\x9d\x92\x9c\\\"\"");
    QTest::newRow("astral pairs back to back")
        << QString::fromUcs4(U"\U00020000\U0010FFFF") << QByteArray("\"\xf0\xa0\x80\x80\xf4\x8f\xbf\xbf\"");
    QTest::newRow("escapes back to back") << QStringLiteral("\\\\\"\"") << QByteArray("\"\\\\\\\\\\\"\\\"\"");
}

void tst_Json::string()
{
    QFETCH(QString, text);
    QFETCH(QByteArray, expected);
    const QByteArray json = jsonString(text);
    QCOMPARE(json, expected);
    // And a standard parser reads back the same text.
    QJsonParseError error;
    const QJsonValue back = parsed(json, &error);
    QCOMPARE(error.error, QJsonParseError::NoError);
    QCOMPARE(back.toString(), text);
}

void tst_Json::everyControlCharacterIsEscaped()
{
    QString all;
    for (char16_t c = 0; c < 0x20; ++c)
        all += QChar(c);
    const QByteArray json = jsonString(all);
    for (char c : json.mid(1, json.size() - 2))
        QVERIFY2(uchar(c) >= 0x20, qPrintable(QString::fromLatin1(json.toHex())));
    QJsonParseError error;
    QCOMPARE(parsed(json, &error).toString(), all);
    QCOMPARE(error.error, QJsonParseError::NoError);
}

void tst_Json::number_data()
{
    QTest::addColumn<double>("value");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("zero") << 0.0 << QByteArray("0");
    QTest::newRow("integer") << 42.0 << QByteArray("42");
    QTest::newRow("negative") << -7.5 << QByteArray("-7.5");
    QTest::newRow("money") << 4938.24 << QByteArray("4938.24");
    QTest::newRow("a tenth") << 0.1 << QByteArray("0.1");
    // The shortest digits that read back to the same double, not the 17 that always do.
    QTest::newRow("0.1 + 0.2") << (0.1 + 0.2) << QByteArray("0.30000000000000004");
    QTest::newRow("a third") << (1.0 / 3.0) << QByteArray("0.3333333333333333");
    QTest::newRow("large") << 1e21 << QByteArray("1e+21");
    QTest::newRow("small") << 1.5e-7 << QByteArray("1.5e-07");
    QTest::newRow("largest") << std::numeric_limits<double>::max() << QByteArray("1.7976931348623157e+308");
    QTest::newRow("smallest subnormal") << std::numeric_limits<double>::denorm_min() << QByteArray("5e-324");
}

void tst_Json::number()
{
    QFETCH(double, value);
    QFETCH(QByteArray, expected);
    const QByteArray json = jsonNumber(value);
    QCOMPARE(json, expected);
    bool ok = false;
    QCOMPARE(json.toDouble(&ok), value); // exactly: qFuzzyCompare would hide a lost digit
    QVERIFY(ok);
    QVERIFY(json.toDouble() == value);
    QJsonParseError error;
    const QJsonValue back = parsed(json, &error);
    QCOMPARE(error.error, QJsonParseError::NoError);
    QVERIFY(back.isDouble());
}

void tst_Json::nonFiniteIsNull_data()
{
    QTest::addColumn<double>("value");
    QTest::newRow("nan") << std::numeric_limits<double>::quiet_NaN();
    QTest::newRow("+inf") << std::numeric_limits<double>::infinity();
    QTest::newRow("-inf") << -std::numeric_limits<double>::infinity();
}

void tst_Json::nonFiniteIsNull()
{
    QFETCH(double, value);
    QCOMPARE(jsonNumber(value), QByteArray("null"));
}

QTEST_GUILESS_MAIN(tst_Json)
#include "tst_json.moc"
