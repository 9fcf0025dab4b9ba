// SPDX-License-Identifier: GPL-3.0-or-later
#include "service.h"
#include "serviceoptions.h"
#include "unixsignalwatcher.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QLoggingCategory>
#include <QTextStream>

#include <qcoro/qcorotask.h>

#include <cstdio>

using namespace Cachedash;

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("cachedash"));
    QCoreApplication::setApplicationVersion(QStringLiteral(CACHEDASH_VERSION));
    qSetMessagePattern(
        QStringLiteral("%{time yyyy-MM-ddTHH:mm:ss.zzz} %{if-category}%{category}: %{endif}%{message}"));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Cache-aside and sliding-window rate limiting over Redis, served over HTTP."));
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
    std::optional<ServiceOptions> options
        = ServiceOptions::from(parser, QProcessEnvironment::systemEnvironment(), &error);
    if (!options) {
        err << "cachedash: " << error << '\n';
        return 2;
    }
    // The window is not there yet: the service always runs headless.
    options->headless = true;

    Service service(*options);
    if (!QCoro::waitFor(service.start())) {
        err << "cachedash: " << service.errorString() << '\n';
        return 1;
    }
    UnixSignalWatcher signalWatcher;
    QObject::connect(&signalWatcher, &UnixSignalWatcher::terminationRequested, &app, [&service](int number) {
        qInfo("received signal %d, stopping", number);
        service.shutdown();
        QCoreApplication::quit();
    });
    std::fprintf(stdout, "Listening on %s\n", qPrintable(service.baseUrl()));
    std::fflush(stdout);
    return QCoreApplication::exec();
}
