// SPDX-License-Identifier: GPL-3.0-or-later
#include "app/applogging.h"
#include "app/servicehost.h"
#include "service/service.h"
#include "service/servicelogging.h"
#include "service/serviceoptions.h"
#include "service/unixsignalwatcher.h"
#include "widgets/mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QLoggingCategory>
#include <QMessageBox>
#include <QSettings>
#include <QTextStream>

#include <qcoro/qcorotask.h>

#include <cstdio>
#include <cstring>
#include <memory>

using namespace Cachedash;

namespace {

bool hasDisplay()
{
    return qEnvironmentVariableIsSet("DISPLAY") || qEnvironmentVariableIsSet("WAYLAND_DISPLAY")
        || qEnvironmentVariableIsSet("QT_QPA_PLATFORM");
}

// What the settings dialog saved, for the window only: a headless service takes its options from its
// command line and environment alone.
QVariantMap savedSettings()
{
    QSettings settings;
    settings.beginGroup(QStringLiteral("service"));
    QVariantMap saved;
    for (const QString &key : settings.childKeys())
        saved.insert(key, settings.value(key));
    return saved;
}

bool wantsWindow(int argc, char *argv[])
{
    const QByteArray headless = qgetenv("CACHEDASH_HEADLESS").toLower();
    if (headless == "1" || headless == "true" || headless == "on" || headless == "yes")
        return false;
    for (int i = 1; i < argc; ++i) {
        for (const char *textOnly : {"--headless", "--help", "-h", "--help-all", "--version", "-v"}) {
            if (std::strcmp(argv[i], textOnly) == 0)
                return false;
        }
    }
    return true;
}

void printListening(const QString &baseUrl)
{
    std::fprintf(stdout, "Listening on %s\n", qPrintable(baseUrl));
    std::fflush(stdout);
}

// The options read again, as at the start, for SIGHUP.
std::optional<ServiceOptions> rereadOptions(const QCommandLineParser &parser, bool window, QString *error)
{
    return ServiceOptions::from(
        parser, QProcessEnvironment::systemEnvironment(), window ? savedSettings() : QVariantMap(), error);
}

int runHeadless(const ServiceOptions &options, const QCommandLineParser &parser)
{
    // Watching from the start: a signal that comes while the service starts waits in the
    // watcher's pipe, and is handled once the loop runs.
    UnixSignalWatcher signalWatcher;
    Service service(options);
    if (!QCoro::waitFor(service.start())) {
        QTextStream(stderr) << "cachedash: " << service.errorString() << '\n';
        return 1;
    }
    QObject::connect(&signalWatcher, &UnixSignalWatcher::terminationRequested, QCoreApplication::instance(),
        [&service](int number) {
            qCInfo(lcService, "received signal %d, stopping", number);
            service.shutdown();
            QCoreApplication::quit();
        });
    QObject::connect(&signalWatcher, &UnixSignalWatcher::reloadRequested, &service, [&service, &parser] {
        qCInfo(lcService, "received SIGHUP, reading the configuration again");
        QString problem;
        const std::optional<ServiceOptions> reread = rereadOptions(parser, false, &problem);
        service.reload(reread, problem);
    });
    printListening(service.baseUrl());
    return QCoreApplication::exec();
}

int runWindow(const ServiceOptions &options, const QCommandLineParser &parser)
{
    UnixSignalWatcher signalWatcher; // from the start, as runHeadless()
    ServiceHost host(options);
    QString error;
    if (!host.start(&error)) {
        QTextStream(stderr) << "cachedash: " << error << '\n';
        QMessageBox::critical(nullptr, QStringLiteral("Cachedash"), error);
        return 1;
    }
    MainWindow window(host);
    window.show();
    QObject::connect(&signalWatcher, &UnixSignalWatcher::terminationRequested, &window,
        [&window](int) { window.close(); });
    QObject::connect(&signalWatcher, &UnixSignalWatcher::reloadRequested, &window, [&host, &parser] {
        QString problem;
        const std::optional<ServiceOptions> reread = rereadOptions(parser, true, &problem);
        host.reload(reread, problem);
    });
    printListening(host.baseUrl());
    const int code = QApplication::exec();
    const EventLoopProbe &probe = window.eventLoopProbe();
    qCInfo(lcApp, "window event loop lateness over %d samples: p50 %.1f ms, p99 %.1f ms, worst %.0f ms",
        probe.samples(), probe.p50(), probe.p99(), probe.worst());
    host.stop();
    return code;
}

} // namespace

int main(int argc, char *argv[])
{
    bool window = wantsWindow(argc, argv);
    const bool noDisplay = window && !hasDisplay();
    window = window && !noDisplay;
    std::unique_ptr<QCoreApplication> app = window ? std::make_unique<QApplication>(argc, argv)
                                                   : std::make_unique<QCoreApplication>(argc, argv);
    QCoreApplication::setOrganizationName(QStringLiteral("cachedash"));
    QCoreApplication::setApplicationName(QStringLiteral("cachedash"));
    QCoreApplication::setApplicationVersion(QStringLiteral(CACHEDASH_VERSION));
    qSetMessagePattern(
        QStringLiteral("%{time yyyy-MM-ddTHH:mm:ss.zzz} %{if-category}%{category}: %{endif}%{message}"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "A dashboard and HTTP service for cache-aside and sliding-window rate limiting over Redis.\n"
        "With a display it opens the window; with --headless (or no display) it only serves."));
    parser.addHelpOption();
    parser.addVersionOption();
    ServiceOptions::addTo(parser);
    QTextStream err(stderr);
    if (!parser.parse(QCoreApplication::arguments())) {
        err << "cachedash: " << parser.errorText() << " (see --help)\n";
        return 2;
    }
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(0);
    if (parser.isSet(QStringLiteral("version")))
        parser.showVersion();
    QString error;
    std::optional<ServiceOptions> options = rereadOptions(parser, window, &error);
    if (!options) {
        err << "cachedash: " << error << '\n';
        return 2;
    }
    if (noDisplay) {
        err << "cachedash: no display (DISPLAY and WAYLAND_DISPLAY are unset), so running headless\n";
        err.flush();
    }
    options->headless = !window;
    // The API is plain HTTP (behind whatever terminates TLS), but QHttpServer's constructor makes a
    // QSslConfiguration, which loads Qt's TLS plugins and with them OpenSSL: some 4 MB of resident
    // memory. Headless and with a plain Redis URL, nothing needs them, nor any other plugin.
    // (Qt's complaint that there is then no TLS backend is beside the point, and silenced.)
    if (!window && !options->redisUrl.tls) {
        QCoreApplication::setLibraryPaths({});
        QLoggingCategory::setFilterRules(QStringLiteral("qt.network.ssl.warning=false"));
    }
    return window ? runWindow(*options, parser) : runHeadless(*options, parser);
}
