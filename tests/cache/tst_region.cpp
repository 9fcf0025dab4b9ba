// SPDX-License-Identifier: GPL-3.0-or-later
#include "cache/region.h"

#include <QTest>

class tst_Region : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void accepted_data();
    void accepted();
    void refused_data();
    void refused();
};

void tst_Region::accepted_data()
{
    QTest::addColumn<QByteArray>("utf8");
    QTest::newRow("emea") << QByteArray("emea");
    QTest::newRow("punctuation allowed") << QByteArray("eu-west_1.b");
    QTest::newRow("digits") << QByteArray("2026");
    QTest::newRow("umlaut") << QString(QStringLiteral("zürich")).toUtf8();
    QTest::newRow("cjk") << QString(QStringLiteral("東京")).toUtf8();
    QTest::newRow("64 code points") << QByteArray(64, 'a');
    QTest::newRow("64 two-byte code points") << QString(64, QChar(0xe9)).toUtf8();
}

void tst_Region::accepted()
{
    QFETCH(QByteArray, utf8);
    QString why;
    const auto region = Cachedash::validateRegion(utf8, &why);
    QVERIFY2(region, qPrintable(why));
    QCOMPARE(region->toUtf8(), utf8);
}

void tst_Region::refused_data()
{
    QTest::addColumn<QByteArray>("utf8");
    QTest::addColumn<QString>("reason");
    QTest::newRow("empty") << QByteArray() << "empty";
    QTest::newRow("65 long") << QByteArray(65, 'a') << "longer than 64";
    QTest::newRow("huge") << QByteArray(8192, 'a') << "longer than 64";
    QTest::newRow("space") << QByteArray("em ea") << "U+0020";
    QTest::newRow("nul") << QByteArray("em\0ea", 5) << "U+0000";
    QTest::newRow("newline") << QByteArray("em\nea") << "U+000A";
    QTest::newRow("colon") << QByteArray("a:b") << "':'";
    QTest::newRow("star") << QByteArray("report*") << "'*'";
    QTest::newRow("slash") << QByteArray("a/b") << "'/'";
    QTest::newRow("invalid utf-8") << QByteArray("\xff\xfe") << "UTF-8";
    QTest::newRow("overlong utf-8") << QByteArray("\xc0\xaf") << "UTF-8";
    QTest::newRow("emoji") << QString(QStringLiteral("😀")).toUtf8() << "😀";
    QTest::newRow("combining mark") << QByteArray("e\xcc\x81") << "U+0301";
    // A leading byte order mark is a character like any other, not something to drop silently.
    QTest::newRow("byte order mark alone") << QByteArray("\xef\xbb\xbf") << "U+FEFF";
    QTest::newRow("byte order mark first") << QByteArray("\xef\xbb\xbf"
                                                         "emea")
                                           << "U+FEFF";
}

void tst_Region::refused()
{
    QFETCH(QByteArray, utf8);
    QFETCH(QString, reason);
    QString why;
    QVERIFY(!Cachedash::validateRegion(utf8, &why));
    QVERIFY2(why.contains(reason), qPrintable(why));
    QVERIFY2(why.contains(QStringLiteral("letters, digits")), qPrintable(why));
}

QTEST_GUILESS_MAIN(tst_Region)
#include "tst_region.moc"
