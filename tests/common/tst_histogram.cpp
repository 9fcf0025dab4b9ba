// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/histogram.h"
#include "common/metrics.h"

#include <QTest>

#include <chrono>

using namespace std::chrono_literals;
using Cachedash::Histogram;
using Cachedash::MetricsWriter;

namespace {

// Where one observation landed: the first bound whose cumulative count includes it.
size_t bucketOf(const Histogram &h)
{
    for (size_t i = 0; i <= Histogram::Bounds.size(); ++i) {
        if (h.cumulative(i) > 0)
            return i;
    }
    return size_t(-1);
}

constexpr size_t Inf = Histogram::Bounds.size();

} // namespace

class tst_Histogram : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void bucketPlacement_data();
    void bucketPlacement();
    void cumulativeCountsSumAndCount();
    void durations();

    void familyAndSamples();
    void labelEscaping_data();
    void labelEscaping();
    void histogramText();
    void histogramTextWithLabels();
    void emptyHistogramText();
};

void tst_Histogram::bucketPlacement_data()
{
    QTest::addColumn<double>("seconds");
    QTest::addColumn<int>("bucket");
    // A bound is inclusive (Prometheus' "le"): a value equal to it lands in its bucket.
    QTest::newRow("zero") << 0.0 << 0;
    QTest::newRow("first bound") << 0.0001 << 0;
    QTest::newRow("just above the first") << 0.000100001 << 1;
    QTest::newRow("0.00025") << 0.00025 << 1;
    QTest::newRow("1 ms") << 0.001 << 3;
    QTest::newRow("between 5 and 10 ms") << 0.007 << 6;
    QTest::newRow("0.1") << 0.1 << 9;
    QTest::newRow("1 s") << 1.0 << 12;
    QTest::newRow("last bound") << 2.5 << 13;
    QTest::newRow("just above the last") << 2.5000001 << int(Inf);
    QTest::newRow("an hour") << 3600.0 << int(Inf);
}

void tst_Histogram::bucketPlacement()
{
    QFETCH(double, seconds);
    QFETCH(int, bucket);
    Histogram h;
    h.observe(seconds);
    QCOMPARE(bucketOf(h), size_t(bucket));
    QCOMPARE(h.cumulative(Inf), quint64(1));
    QCOMPARE(h.count(), quint64(1));
    QCOMPARE(h.sum(), seconds);
}

void tst_Histogram::cumulativeCountsSumAndCount()
{
    Histogram h;
    QCOMPARE(h.count(), quint64(0));
    QCOMPARE(h.sum(), 0.0);
    for (size_t i = 0; i <= Inf; ++i)
        QCOMPARE(h.cumulative(i), quint64(0));

    const double values[] = {0.00005, 0.0001, 0.0003, 0.0003, 0.02, 0.3, 5.0};
    double sum = 0;
    for (double v : values) {
        h.observe(v);
        sum += v;
    }
    const quint64 expected[Inf + 1] = {2, 2, 4, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 7};
    for (size_t i = 0; i <= Inf; ++i)
        QCOMPARE(h.cumulative(i), expected[i]);
    // Past +Inf is +Inf.
    QCOMPARE(h.cumulative(Inf + 5), quint64(7));
    QCOMPARE(h.count(), quint64(7));
    QCOMPARE(h.sum(), sum);
}

void tst_Histogram::durations()
{
    Histogram h;
    h.observe(250ms);
    h.observe(std::chrono::microseconds(100));
    h.observe(2s);
    QCOMPARE(h.count(), quint64(3));
    QCOMPARE(h.sum(), 2.2501);
    QCOMPARE(h.cumulative(0), quint64(1)); // 100 us is the first bound
    QCOMPARE(h.cumulative(10), quint64(2)); // 250 ms is the 0.25 bound
    QCOMPARE(h.cumulative(13), quint64(3));
}

void tst_Histogram::familyAndSamples()
{
    MetricsWriter out;
    out.family("cachedash_things_total", "counter", "Things that happened.");
    out.sample("cachedash_things_total", 3);
    out.sample("cachedash_things_total", MetricsWriter::label("kind", "a"), 0.5);
    out.sample("cachedash_things_total",
        QByteArray(MetricsWriter::label("kind", "b") + ',' + MetricsWriter::label("route", "/x")), 1e20);
    out.family("cachedash_ratio", "gauge", "A ratio.");
    out.sample("cachedash_ratio", 0.125);
    out.sample("cachedash_ratio", {}, -2);
    out.sample("cachedash_ratio", 123456789012.0);
    QCOMPARE(out.text(),
        QByteArray("# HELP cachedash_things_total Things that happened.\n"
                   "# TYPE cachedash_things_total counter\n"
                   "cachedash_things_total 3\n"
                   "cachedash_things_total{kind=\"a\"} 0.5\n"
                   "cachedash_things_total{kind=\"b\",route=\"/x\"} 1e+20\n"
                   "# HELP cachedash_ratio A ratio.\n"
                   "# TYPE cachedash_ratio gauge\n"
                   "cachedash_ratio 0.125\n"
                   "cachedash_ratio -2\n"
                   "cachedash_ratio 123456789012\n"));
}

void tst_Histogram::labelEscaping_data()
{
    QTest::addColumn<QByteArray>("value");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("plain") << QByteArray("emea") << QByteArray("region=\"emea\"");
    QTest::newRow("empty") << QByteArray() << QByteArray("region=\"\"");
    QTest::newRow("backslash") << QByteArray("a\\b") << QByteArray("region=\"a\\\\b\"");
    QTest::newRow("double quote") << QByteArray("say \"hi\"") << QByteArray("region=\"say \\\"hi\\\"\"");
    QTest::newRow("newline") << QByteArray("one\ntwo") << QByteArray("region=\"one\\ntwo\"");
    QTest::newRow("all three") << QByteArray("\\\"\n") << QByteArray("region=\"\\\\\\\"\\n\"");
    // Only those three: other bytes, UTF-8 included, pass as they are.
    QTest::newRow("others untouched")
        << QByteArray("z\xc3\xbcrich\t{}=,") << QByteArray("region=\"z\xc3\xbcrich\t{}=,\"");
}

void tst_Histogram::labelEscaping()
{
    QFETCH(QByteArray, value);
    QFETCH(QByteArray, expected);
    QCOMPARE(MetricsWriter::label("region", value), expected);
}

void tst_Histogram::histogramText()
{
    Histogram h;
    h.observe(0.0001);
    h.observe(0.003);
    h.observe(3.0);
    MetricsWriter out;
    out.family("lat_seconds", "histogram", "Latency.");
    out.histogram("lat_seconds", h);
    QCOMPARE(out.text(),
        QByteArray("# HELP lat_seconds Latency.\n"
                   "# TYPE lat_seconds histogram\n"
                   "lat_seconds_bucket{le=\"0.0001\"} 1\n"
                   "lat_seconds_bucket{le=\"0.00025\"} 1\n"
                   "lat_seconds_bucket{le=\"0.0005\"} 1\n"
                   "lat_seconds_bucket{le=\"0.001\"} 1\n"
                   "lat_seconds_bucket{le=\"0.0025\"} 1\n"
                   "lat_seconds_bucket{le=\"0.005\"} 2\n"
                   "lat_seconds_bucket{le=\"0.01\"} 2\n"
                   "lat_seconds_bucket{le=\"0.025\"} 2\n"
                   "lat_seconds_bucket{le=\"0.05\"} 2\n"
                   "lat_seconds_bucket{le=\"0.1\"} 2\n"
                   "lat_seconds_bucket{le=\"0.25\"} 2\n"
                   "lat_seconds_bucket{le=\"0.5\"} 2\n"
                   "lat_seconds_bucket{le=\"1\"} 2\n"
                   "lat_seconds_bucket{le=\"2.5\"} 2\n"
                   "lat_seconds_bucket{le=\"+Inf\"} 3\n"
                   "lat_seconds_sum 3.0031\n"
                   "lat_seconds_count 3\n"));
}

void tst_Histogram::histogramTextWithLabels()
{
    Histogram h;
    h.observe(0.04);
    h.observe(0.6);
    MetricsWriter out;
    const QByteArray labels
        = MetricsWriter::label("route", "/reports/{region}") + ',' + MetricsWriter::label("note", "a \"b\"");
    out.histogram("req_seconds", h, labels);
    QCOMPARE(out.text(),
        QByteArray("req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.0001\"} 0\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.00025\"} 0\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.0005\"} 0\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.001\"} 0\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.0025\"} 0\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.005\"} 0\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.01\"} 0\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.025\"} 0\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.05\"} 1\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.1\"} 1\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.25\"} 1\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"0.5\"} 1\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"1\"} 2\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"2.5\"} 2\n"
                   "req_seconds_bucket{route=\"/reports/{region}\",note=\"a \\\"b\\\"\",le=\"+Inf\"} 2\n"
                   "req_seconds_sum{route=\"/reports/{region}\",note=\"a \\\"b\\\"\"} 0.64\n"
                   "req_seconds_count{route=\"/reports/{region}\",note=\"a \\\"b\\\"\"} 2\n"));
}

void tst_Histogram::emptyHistogramText()
{
    MetricsWriter out;
    out.histogram("idle_seconds", Histogram());
    const QList<QByteArray> lines = out.text().split('\n');
    // 15 buckets, sum, count, and the empty piece after the last newline.
    QCOMPARE(lines.size(), 18);
    QCOMPARE(lines.at(0), QByteArray("idle_seconds_bucket{le=\"0.0001\"} 0"));
    QCOMPARE(lines.at(14), QByteArray("idle_seconds_bucket{le=\"+Inf\"} 0"));
    QCOMPARE(lines.at(15), QByteArray("idle_seconds_sum 0"));
    QCOMPARE(lines.at(16), QByteArray("idle_seconds_count 0"));
    QVERIFY(lines.at(17).isEmpty());
}

QTEST_GUILESS_MAIN(tst_Histogram)
#include "tst_histogram.moc"
