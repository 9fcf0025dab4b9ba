// SPDX-License-Identifier: GPL-3.0-or-later
#include "cache/report.h"

#include <QTest>

using Cachedash::Report;

class tst_Report : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void totalSales_data();
    void totalSales();
    void jsonInTheSeedsFieldOrder();
    void roundTrip();
    void refused_data();
    void refused();
};

void tst_Report::totalSales_data()
{
    QTest::addColumn<QString>("region");
    QTest::addColumn<double>("expected");
    // round(len(region) * 1234.56, 2), len in code points, as Python computes it.
    QTest::newRow("emea") << QStringLiteral("emea") << 4938.24;
    QTest::newRow("apac") << QStringLiteral("apac") << 4938.24;
    QTest::newRow("one letter") << QStringLiteral("x") << 1234.56;
    QTest::newRow("ten") << QStringLiteral("abcdefghij") << 12345.6;
    QTest::newRow("umlaut") << QStringLiteral("zürich") << 7407.36;
    QTest::newRow("astral plane counts once") << QString::fromUcs4(U"\U0001D49C\U0001D49D") << 2469.12;
    QTest::newRow("cjk") << QStringLiteral("東京") << 2469.12;
    QTest::newRow("64 long") << QString(64, u'a') << 79011.84;
}

void tst_Report::totalSales()
{
    QFETCH(QString, region);
    QFETCH(double, expected);
    QCOMPARE(Report::totalSalesFor(region), expected);
}

void tst_Report::jsonInTheSeedsFieldOrder()
{
    const Report r = Report::compute(
        QStringLiteral("emea"), QDateTime(QDate(2026, 11, 28), QTime(20, 9, 4, 380), Qt::UTC));
    QCOMPARE(r.toJson(false),
        QByteArray("{\"region\":\"emea\",\"total_sales\":4938.24,\"generated_at\":\"2026-11-28T20:09:04.380+"
                   "00:00\",\"cached\":false}"));
    QVERIFY(r.toJson(true).endsWith("\"cached\":true}"));
    const Report quoted = Report::compute(QStringLiteral("a\"b\\c"), QDateTime::currentDateTimeUtc());
    QVERIFY(quoted.toJson(false).startsWith("{\"region\":\"a\\\"b\\\\c\","));
}

void tst_Report::roundTrip()
{
    // U+20000 is a letter outside the Basic Multilingual Plane: two UTF-16 units, four UTF-8 bytes.
    for (const QString &region : {QStringLiteral("zürich"), QString::fromUtf8("\xf0\xa0\x80\x80-1")}) {
        const Report r = Report::compute(region, QDateTime::currentDateTimeUtc());
        QVERIFY(r.toJson(false).contains(region.toUtf8()));
        QString why;
        const auto back = Report::fromJson(r.toJson(false), region, &why);
        QVERIFY2(back, qPrintable(why));
        QCOMPARE(back->region, r.region);
        QCOMPARE(back->totalSales, r.totalSales);
        QCOMPARE(back->generatedAt.toMSecsSinceEpoch(), r.generatedAt.toMSecsSinceEpoch());
    }
    QString why;
    // The seed's own format (naive timestamp with microseconds) is read too.
    const auto seed = Report::fromJson("{\"region\":\"emea\",\"total_sales\":4938.24,\"generated_at\":\"2026-"
                                       "11-28T20:09:04.380086\",\"cached\":false}",
        QStringLiteral("emea"), &why);
    QVERIFY2(seed, qPrintable(why));
}

void tst_Report::refused_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("reason");
    QTest::newRow("not json") << QByteArray("hello") << "not JSON";
    QTest::newRow("truncated") << QByteArray("{\"region\":\"emea\",\"total_sa") << "not JSON";
    QTest::newRow("array") << QByteArray("[1,2]") << "not a JSON object";
    QTest::newRow("no region") << QByteArray(
        "{\"total_sales\":1,\"generated_at\":\"2026-11-28T20:09:04+00:00\"}")
                               << "\"region\"";
    QTest::newRow("other region") << QByteArray(
        "{\"region\":\"apac\",\"total_sales\":1,\"generated_at\":\"2026-11-28T20:09:04+00:00\"}")
                                  << "another region";
    QTest::newRow("sales as string") << QByteArray(
        "{\"region\":\"emea\",\"total_sales\":\"1\",\"generated_at\":\"2026-11-28T20:09:04+00:00\"}")
                                     << "\"total_sales\"";
    QTest::newRow("no timestamp") << QByteArray("{\"region\":\"emea\",\"total_sales\":1}")
                                  << "\"generated_at\"";
    QTest::newRow("bad timestamp") << QByteArray(
        "{\"region\":\"emea\",\"total_sales\":1,\"generated_at\":\"yesterday\"}")
                                   << "ISO-8601";
    QTest::newRow("cached not bool") << QByteArray("{\"region\":\"emea\",\"total_sales\":1,\"generated_at\":"
                                                   "\"2026-11-28T20:09:04+00:00\",\"cached\":\"no\"}")
                                     << "\"cached\"";
}

void tst_Report::refused()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, reason);
    QString why;
    QVERIFY(!Report::fromJson(json, QStringLiteral("emea"), &why));
    QVERIFY2(why.contains(reason), qPrintable(why));
}

QTEST_GUILESS_MAIN(tst_Report)
#include "tst_report.moc"
